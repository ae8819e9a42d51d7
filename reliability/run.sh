#!/usr/bin/env bash
# The reliability scenarios (docs/reliability.md), one entry point. Exits non-zero when any
# expectation fails.
#
# usage: reliability/run.sh SCENARIO... [--quick]
#   rolling          rolling restart and rollback to the previous release under load (Kubernetes-style surge)
#   rolling-inplace  the same, each replica restarted in place behind the unchanged proxy (compose-style)
#   crash            SIGKILL one replica mid-game under load; retries with Idempotency-Key
#   postgres         PostgreSQL outage (immediate stop, then start) under load
#   redis            Redis outage (kill, restart empty) and FLUSHALL under load
#   hostile          schemathesis from /api/openapi.json, raw-HTTP hostile input, game-engine properties
#   abuse            one client hammering gets 429 + Retry-After, other clients unaffected, across replicas
#   scale            benchmark: reads at 10 thousand / 1 million (/ 10 million with REL_SCALE_MAX=10000000)
#                    stored games, throughput with 1-3 replicas, exec-to-ready time
#   fast             CI's set: rolling crash postgres redis hostile abuse;  all: every scenario
#   --quick          short phases (CI)
#
# Environment: HMG_BIN (default target/release/humor-memory-game); REL_PREV_BIN, the previous release (default:
# built by reliability/build-previous.sh); HMG_LOADGEN for `scale` (default target/release/hmg-loadgen);
# REL_OUT (JSON results, default target/reliability/results). Needs root (nginx runs in a private mount
# namespace), nginx-light + libnginx-mod-stream, redis-server, PostgreSQL 15 with pg_createcluster, Python 3.11.
# Python tools: the repository's one venv, target/py-venv (tests/pyproject.toml; PY_VENV overrides).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HMG_BIN=${HMG_BIN:-$ROOT/target/release/humor-memory-game}
[ $# -gt 0 ] || { sed -n '4,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ -x "$HMG_BIN" ] || { echo "run.sh: no server binary at $HMG_BIN (cargo build --release, or set HMG_BIN)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "run.sh: needs root (nginx runs in a private mount namespace)" >&2; exit 2; }

# The repository's one Python venv (tests/pyproject.toml), shared with the CI steps.
# shellcheck source=.ci/lib.sh
. "$ROOT/.ci/lib.sh"
ci_python_venv
VENV=$PY_VENV

if [ -z "${REL_PREV_BIN:-}" ] && printf '%s\n' "$@" | grep -qxE 'rolling|rolling-inplace|scale|fast|all'; then
  REL_PREV_BIN=$(HMG_BIN=$HMG_BIN "$ROOT/reliability/build-previous.sh")
fi
export HMG_BIN REL_PREV_BIN="${REL_PREV_BIN:-$HMG_BIN}"
export HMG_LOADGEN=${HMG_LOADGEN:-$ROOT/target/release/hmg-loadgen}
cd "$ROOT/reliability"
exec "$VENV/bin/python" -m hmgrel "$@"
