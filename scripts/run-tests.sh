#!/usr/bin/env bash
# Runs Parley's test suites against the current build/ (make test builds it first):
#   1. unit tests (ctest -L unit)
#   2. tests/e2e/native     node --test, real server binary, `ws` client
#   3. tests/e2e/socketio   its run.sh, or node --test
#   4. tests/browser        its run.sh
# A suite whose folder (or entry point) is absent is skipped with a message. Every suite runs
# even after one fails; the script fails if any did.
#
#   scripts/run-tests.sh              all suites
#   scripts/run-tests.sh --e2e-only   skip the unit tests
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PARLEY_BIN="${PARLEY_BIN:-$root/build/parley}"

e2e_only=0
[[ "${1:-}" == "--e2e-only" ]] && e2e_only=1

passed=()
failed=()
skipped=()

run_suite() {  # name, then the command
  local name="$1"
  shift
  echo
  echo "==> $name: $*"
  local start=$SECONDS
  if "$@"; then
    passed+=("$name")
    echo "<== $name: passed ($((SECONDS - start)) s)"
  else
    failed+=("$name")
    echo "<== $name: FAILED ($((SECONDS - start)) s)"
  fi
}

skip() {
  skipped+=("$1")
  echo
  echo "--- $1: skipped ($2)"
}

# npm ci, then node --test in the folder. Output goes straight through.
node_suite() {
  local dir="$1"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error && node --test)
}

if ((e2e_only == 0)); then
  if [[ -d build ]]; then
    run_suite unit ctest --test-dir build --output-on-failure -L unit
  else
    failed+=(unit)
    echo "==> unit: build/ is missing; run make build first"
  fi
fi

if [[ ! -d tests/e2e/native ]]; then
  skip e2e-native "tests/e2e/native is missing"
elif [[ ! -f tests/e2e/native/package.json ]]; then
  skip e2e-native "tests/e2e/native has no package.json"
else
  run_suite e2e-native node_suite tests/e2e/native
fi

if [[ ! -d tests/e2e/socketio ]]; then
  skip e2e-socketio "tests/e2e/socketio is missing"
elif [[ -f tests/e2e/socketio/run.sh ]]; then
  run_suite e2e-socketio bash tests/e2e/socketio/run.sh
elif [[ -f tests/e2e/socketio/package.json ]]; then
  run_suite e2e-socketio node_suite tests/e2e/socketio
else
  skip e2e-socketio "tests/e2e/socketio has neither run.sh nor package.json"
fi

if [[ ! -d tests/browser ]]; then
  skip browser "tests/browser is missing"
elif [[ -f tests/browser/run.sh ]]; then
  run_suite browser bash tests/browser/run.sh
else
  skip browser "tests/browser has no run.sh"
fi

echo
echo "Suites passed: ${passed[*]:-none}"
echo "Suites skipped: ${skipped[*]:-none}"
echo "Suites failed: ${failed[*]:-none}"
echo "suites: ${#passed[@]} passed, ${#failed[@]} failed, ${#skipped[@]} skipped"
((${#failed[@]} == 0))
