#!/usr/bin/env bash
# The WebWOz suite, twice: against WebWOz's own Flask back end (so the tests are known to
# describe the real app; skipped loudly when its repository or Debian's python3-flask-socketio
# is missing), then against Parley. README.md says what each run shows.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [[ ! -d node_modules/socket.io-client ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error || exit 1
fi
status=0
git_dir="${WOZCHAT_GIT_DIR:-/work/.mirror/tveigel+WoZChat/repo}"
python="${WEBWOZ_PYTHON:-/usr/bin/python3}"
if [[ ! -e "$git_dir" ]]; then
  echo "*** e2e-webwoz: the Flask run is SKIPPED: no WoZChat repository at $git_dir (WOZCHAT_GIT_DIR) ***"
elif ! "$python" -c 'import flask_socketio, flask_cors, eventlet, sqlalchemy' 2>/dev/null; then
  echo "*** e2e-webwoz: the Flask run is SKIPPED: $python lacks python3-flask-socketio, -flask-cors, -eventlet or -sqlalchemy (scripts/install-deps.sh) ***"
else
  echo "==> e2e-webwoz against the app's own Flask back end"
  WEBWOZ_TARGET=flask node --test --test-concurrency=1 || status=1
fi
echo "==> e2e-webwoz against Parley"
WEBWOZ_TARGET=parley node --test --test-concurrency=1 || status=1
exit $status
