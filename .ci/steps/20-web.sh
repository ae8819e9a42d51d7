#!/usr/bin/env bash
# The web game: unit tests of the pure modules, the check that what depends on the asset version is in sync
# (index.html, the README screenshots), then the page in headless Chromium against the real server with a fresh
# SQLite database (header table + e2e, which also takes the README screenshots).
# By hand from the repository root: HMG_BIN=/path/to/humor-memory-game bash .ci/steps/20-web.sh
# (FRONTEND_DIR=frontend/public serves the files from disk; CI leaves it unset to test the embedded copy).
# UPDATE_SCREENSHOTS=1 refreshes docs/images/ from this run's screenshots instead of checking them.
set -euo pipefail

ROOT=${ROOT:-$PWD}
ARTIFACTS=${ARTIFACTS:-$ROOT/artifacts}
export ROOT ARTIFACTS
mkdir -p "$ARTIFACTS"
# shellcheck source=.ci/lib.sh
. "$ROOT/.ci/lib.sh"
cd "$ROOT"

# Ports from the OS (ci_free_port), so two runs or another area's servers never collide with ours.
MAIN_PORT=$(ci_free_port)
LIMITED_PORT=$(ci_free_port)
while [ "$LIMITED_PORT" = "$MAIN_PORT" ]; do LIMITED_PORT=$(ci_free_port); done

t0=$(date +%s)
# pngquant and optipng compress the README screenshots (the unit tests run them too).
ci_apt_install chromium fonts-noto-color-emoji pngquant optipng
echo "apt: $(( $(date +%s) - t0 ))s"

(cd frontend && npm ci --no-audit --no-fund --loglevel=error)

(cd frontend && node --test tests/)
UPDATE_SCREENSHOTS=${UPDATE_SCREENSHOTS:-}
if [ "${CI:-}" = "true" ] && [ -n "$UPDATE_SCREENSHOTS" ]; then
  echo "UPDATE_SCREENSHOTS is set in CI: CI checks the committed screenshots, it never takes new ones" >&2
  exit 1
fi
if [ -z "$UPDATE_SCREENSHOTS" ]; then
  node scripts/frontend-version.mjs --check
fi

if [ ! -x "$HMG_BIN" ]; then
  echo "the server binary $HMG_BIN is missing (step 10-server builds it; by hand set HMG_BIN)" >&2
  exit 1
fi
if [ "${CI:-}" = "true" ] && [ -n "${FRONTEND_DIR:-}" ]; then
  echo "FRONTEND_DIR is set in CI: the e2e run must test the files embedded in the binary" >&2
  exit 1
fi
echo "serving the frontend from: ${FRONTEND_DIR:-the copy embedded in $HMG_BIN}"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# Starts the server on a port of ours with its own fresh database; extra VAR=value pairs tune it.
start_server() {
  local port=$1 name=$2
  shift 2
  if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
    echo "port $port is already in use; stop whatever listens there" >&2
    return 1
  fi
  # env -u: a DATABASE_URL or REDIS_URL from the environment must not replace the fresh SQLite file.
  env -u DATABASE_URL -u DB_HOST -u REDIS_URL -u REDIS_HOST \
    HOST=127.0.0.1 PORT="$port" SQLITE_PATH="$work/$name.sqlite" LOG_FORMAT=json "$@" \
    "$HMG_BIN" serve >"$ARTIFACTS/web-$name-server.log" 2>&1 &
  pids+=($!)
  ci_wait_http "http://127.0.0.1:$port/health/live" 30 || { tail -n 40 "$ARTIFACTS/web-$name-server.log" >&2; return 1; }
}

start_server "$MAIN_PORT" e2e RATE_LIMIT_MAX_REQUESTS=100000
# A second server whose rate limit trips after a few calls, for the "rate limited" message.
start_server "$LIMITED_PORT" limited RATE_LIMIT_MAX_REQUESTS=4 RATE_LIMIT_WINDOW_MS=60000

export BASE_URL="http://127.0.0.1:$MAIN_PORT" LIMITED_URL="http://127.0.0.1:$LIMITED_PORT"
(cd frontend && node --test e2e/)
echo "screenshots: $ARTIFACTS/screenshots/"
if [ -n "$UPDATE_SCREENSHOTS" ]; then
  node scripts/frontend-version.mjs --update-screenshots "$ARTIFACTS/screenshots"
  node scripts/frontend-version.mjs --check
fi
echo "web step took $(( $(date +%s) - t0 ))s"
