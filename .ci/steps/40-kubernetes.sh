#!/usr/bin/env bash
# Kubernetes and GitOps, proven offline (no cluster runs here): every kustomization rendered with kubectl's
# kustomize, strict schema validation, Pod Security "restricted", checkov with justified exceptions,
# contract tests against `$HMG_BIN contract`, the guide's sed commands replayed, the scripts on temporary
# git repositories with a fake kubectl/curl (and the secret rotation's SQL against the local PostgreSQL),
# the redis container command in a private network namespace, backup/restore against the local
# PostgreSQL, and the guide's whole path replayed command by command on a model of a k3d cluster
# (tests/k8s/guide-replay.yaml, cluster_model.py) for dev, staging and prod.
# By hand from the repository root: HMG_BIN=/path/to/humor-memory-game bash .ci/steps/40-kubernetes.sh
set -euo pipefail

ROOT=${ROOT:-$PWD}
ARTIFACTS=${ARTIFACTS:-$ROOT/artifacts}
export ROOT ARTIFACTS
# shellcheck source=.ci/lib.sh
. "$ROOT/.ci/lib.sh"
cd "$ROOT"
mkdir -p "$ARTIFACTS"

t0=$(date +%s)
ci_apt_install shellcheck git postgresql-client redis-server redis-tools iproute2 jq curl
echo "apt: $(( $(date +%s) - t0 ))s"

# kubectl with kustomize v5 is part of this machine's image; Debian's kubernetes-client is older and
# conflicts with it, so it is not installed here.
if ! command -v kubectl >/dev/null; then
  echo "kubectl (with kustomize v5) is missing on this machine" >&2
  exit 1
fi
kustomize_version=$(kubectl version --client -o json | jq -r '.kustomizeVersion // ""')
case $kustomize_version in
  v5.*) echo "kubectl $(kubectl version --client -o json | jq -r .clientVersion.gitVersion), kustomize $kustomize_version" ;;
  *) echo "kubectl's kustomize must be v5, found '${kustomize_version:-none}'" >&2; exit 1 ;;
esac

if [ ! -x "$HMG_BIN" ]; then
  echo "the server binary $HMG_BIN is missing (step 10-server builds it; by hand set HMG_BIN)" >&2
  exit 1
fi
export HMG_BIN
"$HMG_BIN" contract >"$ARTIFACTS/k8s-contract.json"
echo "contract from $HMG_BIN: $(jq -r '.version' "$ARTIFACTS/k8s-contract.json")"

ci_ensure_postgres >/dev/null

t0=$(date +%s)
ci_python_venv
export PATH="$PY_VENV/bin:$PATH"
echo "venv: $(( $(date +%s) - t0 ))s"

echo "== shellcheck"
shellcheck gitops/promote.sh scripts/create-secrets.sh scripts/gitops-init.sh scripts/production-test.sh scripts/cluster.sh \
  scripts/backup/*.sh scripts/guide/*.sh
shellcheck -x .ci/steps/40-kubernetes.sh

echo "== the backup CronJob embeds the current scripts"
scripts/backup/render-cronjob.sh --check

echo "== renders (kept in artifacts/ for review)"
for dir in k8s gitops/base gitops/environments/dev gitops/environments/staging gitops/environments/prod; do
  out="$ARTIFACTS/k8s-render-${dir//\//-}.yaml"
  kubectl kustomize "$dir" >"$out"
  echo "$dir: $(grep -c '^kind:' "$out") objects"
done

echo "== tests/k8s"
export PYTHONDONTWRITEBYTECODE=1 PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres
python -m pytest tests/k8s -q -p no:cacheprovider --junitxml="$ARTIFACTS/k8s-junit.xml"
