#!/usr/bin/env bash
# Step 60: proven under fire. Builds the previous release (the parent of the newest migration's commit)
# for the rollback, then runs
#   1. tests/reliability: the game engine's rules as a random walk through the API, and deterministic
#      reproductions of what the scenarios found (a crash between a move and its idempotent answer, retries after
#      a 503, a database partition, Redis data loss);
#   2. reliability/run.sh fast --quick: rolling restart + rollback, crash, PostgreSQL outage, Redis outage and
#      FLUSHALL, hostile input (schemathesis + raw HTTP), abuse, each with short phases.
# Everything runs on this area's own addresses and ports (docs/reliability.md) and is stopped by PID.
# Results: $ARTIFACTS/reliability/*.json (one per scenario) and junit.xml. Budget: 12 minutes on a cold machine.
set -euo pipefail

ROOT=${ROOT:-$(pwd)}
export ROOT
# shellcheck source=.ci/lib.sh
. "$ROOT/.ci/lib.sh"
ARTIFACTS=${ARTIFACTS:-$ROOT/artifacts}
OUT=$ARTIFACTS/reliability
mkdir -p "$OUT"
cd "$ROOT"
t_start=$(date +%s)
phase() { echo "--- $* ($(( $(date +%s) - t_start ))s)"; }

phase "tools"
# libnginx-mod-stream: the endpoints balancer; postgresql-15: pg_createcluster for the outage cluster.
ci_apt_install nginx-light libnginx-mod-stream redis-server redis-tools postgresql-15 postgresql-client \
  shellcheck python3-venv curl
ci_ensure_postgres >/dev/null
[ "$(id -u)" -eq 0 ] || { echo "step 60 needs root (nginx runs in a private mount namespace)" >&2; exit 1; }
[ -x "$HMG_BIN" ] || { echo "no server binary at $HMG_BIN (step 10 builds it)" >&2; exit 1; }
shellcheck -x .ci/steps/60-reliability.sh reliability/run.sh reliability/build-previous.sh scripts/bench.sh
ci_python_venv
VENV=$PY_VENV
"$VENV/bin/python" -m compileall -q reliability/hmgrel tests/reliability >/dev/null

phase "previous release"
export HMG_BIN
REL_PREV_BIN=$(reliability/build-previous.sh)
export REL_PREV_BIN REL_OUT=$OUT REL_STATE=$ROOT/target/reliability-ci
echo "new: $HMG_BIN; previous: $REL_PREV_BIN"

rc=0
phase "tests/reliability"
timeout 300 "$VENV/bin/python" -m pytest -q -p no:cacheprovider -rfE tests/reliability \
  --junitxml="$OUT/junit.xml" || rc=1

phase "scenarios (fast, quick)"
timeout 600 reliability/run.sh fast --quick || rc=1

phase "done (rc=$rc)"
exit "$rc"
