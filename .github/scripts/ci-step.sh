#!/usr/bin/env bash
# Runs one step of .ci/run (e.g. `ci-step.sh 10-server`) the way .ci/run runs it: the same prerequisites and the
# same environment, then .ci/steps/<step>.sh. The GitHub Actions workflow runs the steps as parallel jobs with it;
# tests/delivery checks that what it sets up is what .ci/run sets up.
set -euo pipefail

step=${1:?usage: ci-step.sh STEP (a name in .ci/steps/ without .sh)}
cd "$(dirname "$0")/../.."
[ -f ".ci/steps/$step.sh" ] || { echo "ci-step: no step .ci/steps/$step.sh" >&2; exit 2; }
ROOT=$PWD
export ROOT
export CARGO_TERM_COLOR=never
export ARTIFACTS="$ROOT/artifacts"
mkdir -p "$ARTIFACTS"

# shellcheck source=.ci/lib.sh
. "$ROOT/.ci/lib.sh"
ci_apt_install postgresql-client redis-tools curl ca-certificates jq
ci_ensure_postgres
ci_ensure_redis

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
export REQUIRE_SERVICES=1

t0=$(date +%s)
bash "$ROOT/.ci/steps/$step.sh"
echo "step $step passed in $(( $(date +%s) - t0 ))s"
