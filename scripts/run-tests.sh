#!/usr/bin/env bash
# Runs Parley's test suites against the current build/ (make test builds it first):
#   1. unit tests (ctest -L 'unit|store_pg|memory'), with a throwaway PostgreSQL for the store
#      suite; `memory` is the peak RSS of exporting 1M messages (about a minute)
#   1b. fuzz                tests/fuzz/run_fuzz.sh: every libFuzzer target briefly (clang)
#   2. every tests/e2e/<suite>/ (native, socketio, auth, cli, outage, cluster...): its run.sh,
#      or npm ci + node --test
#   3. tests/browser        its run.sh (Playwright + Debian chromium)
#   4. bench/run.sh --smoke every benchmark scenario completes and verifies (unless BENCH=OFF)
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
  # Each suite's output is also kept in build/test-logs/<name>.log, so the summary at the end
  # can repeat why a suite failed (CI shows only the tail of a long run).
  mkdir -p "$logs"
  if "$@" 2>&1 | tee "$logs/$name.log"; then
    passed+=("$name")
    echo "<== $name: passed ($((SECONDS - start)) s)"
  else
    failed+=("$name")
    echo "<== $name: FAILED ($((SECONDS - start)) s)"
  fi
}
logs="$root/build/test-logs"
rm -rf "$logs"

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

# A throwaway PostgreSQL for the storage conformance suite (PostgreSQL backend) and the
# PostgreSQL-only tests; stopped on exit.
pg_dir="$root/build/pg-test"
if ((e2e_only == 0)) && [[ -x scripts/pg-test-cluster.sh ]] && [[ -d build ]]; then
  if PARLEY_TEST_PG_URL="$(scripts/pg-test-cluster.sh start "$pg_dir")"; then
    export PARLEY_TEST_PG_URL
    trap 'scripts/pg-test-cluster.sh stop "$pg_dir" >/dev/null 2>&1 || true' EXIT
    echo "==> PostgreSQL for the store tests: $PARLEY_TEST_PG_URL"
  else
    failed+=(postgres-start)
    echo "==> could not start a PostgreSQL test cluster"
  fi
fi

if ((e2e_only == 0)); then
  if [[ -d build ]]; then
    # Tests are listed when they run (the PostgreSQL backend joins the conformance suite
    # when PARLEY_TEST_PG_URL is set), so ctest sees them all.
    run_suite unit ctest --test-dir build --output-on-failure -L 'unit|store_pg|memory'
  else
    failed+=(unit)
    echo "==> unit: build/ is missing; run make build first"
  fi
fi

# The libFuzzer targets (tests/fuzz/run_fuzz.sh: one per decoder of untrusted bytes), each
# for FUZZ_SECONDS (default 20) from its committed seed corpus; a crash fails the suite.
if ((e2e_only == 1)); then
  :
elif ! command -v clang++ >/dev/null 2>&1; then
  skip fuzz "clang++ is not installed"
else
  run_suite fuzz nice -n 5 tests/fuzz/run_fuzz.sh "${FUZZ_SECONDS:-20}"
fi

# Every end-to-end suite: tests/e2e/<name>/ with a run.sh, or a package.json (npm ci, then
# node --test), or bare *.test.mjs files (node --test). lib/ holds shared helpers.
for dir in tests/e2e/*/; do
  dir="${dir%/}"
  name="e2e-$(basename "$dir")"
  [[ "$(basename "$dir")" == lib ]] && continue
  if [[ -f "$dir/run.sh" ]]; then
    run_suite "$name" bash "$dir/run.sh"
  elif [[ -f "$dir/package.json" ]]; then
    run_suite "$name" node_suite "$dir"
  elif compgen -G "$dir/*.test.mjs" >/dev/null; then
    run_suite "$name" bash -c "cd '$dir' && node --test"
  else
    skip "$name" "$dir has no run.sh, package.json or tests"
  fi
done

if [[ ! -d tests/browser ]]; then
  skip browser "tests/browser is missing"
elif [[ -f tests/browser/run.sh ]]; then
  run_suite browser bash tests/browser/run.sh
else
  skip browser "tests/browser has no run.sh"
fi

# The benchmarks in smoke mode: every scenario completes and verifies, no figures judged.
# They use the binaries make test built in build/ (BENCH=OFF leaves them out).
if [[ "${BENCH:-ON}" == OFF ]]; then
  skip bench-smoke "BENCH=OFF"
elif [[ ! -x bench/run.sh ]]; then
  skip bench-smoke "bench/run.sh is missing"
elif [[ ! -x build/parley-bench ]]; then
  skip bench-smoke "build/parley-bench is not built (configure with -DPARLEY_BUILD_BENCH=ON)"
else
  run_suite bench-smoke bash bench/run.sh --smoke --build-dir "$root/build" --no-build
fi

for name in "${failed[@]}"; do
  [[ -f "$logs/$name.log" ]] || continue
  echo
  echo "--- why $name failed: its failures and last lines ($logs/$name.log)"
  grep -E -m 12 '^not ok|FAILED|ERROR|[Ee]rror:|AddressSanitizer|runtime error|deadly signal' \
    "$logs/$name.log" | cut -c1-300
  tail -n 15 "$logs/$name.log" | cut -c1-300
done

echo
echo "Suites passed: ${passed[*]:-none}"
echo "Suites skipped: ${skipped[*]:-none}"
echo "Suites failed: ${failed[*]:-none}"
echo "suites: ${#passed[@]} passed, ${#failed[@]} failed, ${#skipped[@]} skipped"
((${#failed[@]} == 0))
