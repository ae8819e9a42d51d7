#!/usr/bin/env bash
# The game server: formatting, lints, the image manifest copy, the release binary every later step uses,
# and the README's test command against real PostgreSQL and Redis (REQUIRE_SERVICES=1 from .ci/run).
set -euo pipefail
cd "${ROOT:-$(dirname "$0")/../..}"
. .ci/lib.sh

timed() {
  local t0=$SECONDS
  echo "--- $*"
  "$@"
  echo "--- ok in $((SECONDS - t0))s: $*"
}

timed cargo fmt --all --check
timed scripts/sync-backend-manifest.sh --check
timed scripts/check-migrations.sh
# --workspace: the load generator (not a default member) is built, linted and tested too.
timed cargo clippy --workspace --all-targets --locked -- -D warnings
timed cargo build --release --locked --workspace
# CI runs the README's start command from the root: it must build and list its configuration.
timed cargo run --release --locked -- --help > "$ARTIFACTS/server-help.txt"
grep -q 'env: DB_HOST' "$ARTIFACTS/server-help.txt"
: "${TEST_DATABASE_URL:?set by .ci/run}" "${TEST_REDIS_URL:?set by .ci/run}"
export REQUIRE_SERVICES=1
# The README's test command, then the load generator's own tests.
timed cargo test --locked
timed cargo test --locked -p humor-loadgen
# The optional OpenTelemetry feature (off by default) still builds, is lint-clean and exports spans.
timed cargo clippy -p humor-server --all-targets --features otel --locked -- -D warnings
timed cargo test -p humor-server --features otel --test otel --locked
