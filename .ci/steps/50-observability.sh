#!/usr/bin/env bash
# Observability: alert rules and their promtool unit tests, dashboards checked as data, the scrape and
# Alertmanager configs, the generated k8s/monitoring.yaml and monitoring/operator/ (stale = failure; the
# Prometheus Operator objects rendered with kubectl and validated against the operator's CRD schemas), then the
# live test: the real binary, scripted games, real Prometheus and Alertmanager with our files, and an induced outage whose alert
# must reach a webhook. Run by hand from the repository root:
#   HMG_BIN=/path/to/humor-memory-game bash .ci/steps/50-observability.sh
set -euo pipefail
ROOT="${ROOT:-$PWD}"
export ROOT
export ARTIFACTS="${ARTIFACTS:-$ROOT/artifacts}"
# shellcheck source=.ci/lib.sh
. "$ROOT/.ci/lib.sh"
export HMG_BIN
cd "$ROOT"

# Debian's prometheus gives promtool; prometheus-alertmanager gives amtool.
ci_apt_install prometheus prometheus-alertmanager redis-server postgresql-client shellcheck python3-venv
shellcheck -x .ci/steps/50-observability.sh
ci_ensure_postgres >/dev/null

# In CI nothing may be skipped: a missing tool or binary fails the step.
if [ "${CI:-}" = "true" ]; then
  export OBS_REQUIRE_TOOLS=1
  if [ ! -x "$HMG_BIN" ]; then
    echo "the server binary $HMG_BIN is missing (step 10-server.sh builds it)" >&2
    exit 1
  fi
fi

# The generator needs nothing but Python's standard library; check it first, outside the venv.
python3 monitoring/generate-k8s.py --check
mkdir -p "$ARTIFACTS/observability"
if command -v kubectl >/dev/null; then
  kubectl kustomize monitoring/operator >"$ARTIFACTS/observability/operator-render.yaml"
  echo "monitoring/operator: $(grep -c '^kind:' "$ARTIFACTS/observability/operator-render.yaml") objects"
elif [ "${CI:-}" = "true" ]; then
  echo "kubectl (with kustomize v5) is missing on this machine" >&2
  exit 1
fi

ci_python_venv
VENV=$PY_VENV

promtool --version | head -1
prometheus-alertmanager --version 2>&1 | head -1
"$VENV/bin/python" -m pytest -q -rfEs -p no:cacheprovider tests/observability \
  --junitxml="$ARTIFACTS/observability/junit.xml"
