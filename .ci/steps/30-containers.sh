#!/usr/bin/env bash
# Step 30: Dockerfiles, nginx configs, docker-compose.yml and the local production-shaped stack,
# proved without a Docker engine:
#   1. static: hadolint, shellcheck, both Dockerfiles and the compose file against the binary's contract,
#      compose validated by Debian's docker-compose 1.29 and the current Compose, with and without .env,
#      both nginx configs accepted unchanged by Debian's nginx, the frontend image's steps carried out
#      (image_build.py frontend: the page under its content hash)
#   2. live: scripts/local-stack.sh up (PostgreSQL, Redis, two backends, frontend nginx, proxy on :3000), the
#      guide's checks including a whole game, then the nginx tests (headers, cache classes, retries, drain, the
#      frontend nginx and a backend serving the image's files byte for byte)
#   3. the backend image's build stage carried out on a copy of backend/ alone (the slow part)
# Budget: 10 minutes on a cold machine.
set -euo pipefail

ROOT=${ROOT:-$(pwd)}
export ROOT
# shellcheck disable=SC1091 # the shared CI helpers (.ci/lib.sh, linted on its own)
. "$ROOT/.ci/lib.sh"
ARTIFACTS=${ARTIFACTS:-$ROOT/artifacts}
OUT=$ARTIFACTS/containers
mkdir -p "$OUT"
t_start=$(date +%s)
phase() { echo "--- $* ($(( $(date +%s) - t_start ))s)"; }

phase "tools"
ci_apt_install nginx-light docker-compose shellcheck redis-server redis-tools postgresql-client curl jq
ci_ensure_postgres
ci_python_venv
VENV=$PY_VENV
# The venv first: its docker-compose is the current Compose; Debian's 1.29 stays at /usr/bin/docker-compose.
export PATH=$VENV/bin:$PATH
echo "current compose: $(docker-compose version --short), debian compose: $(/usr/bin/docker-compose version --short)"
echo "$(hadolint --version), shellcheck $(shellcheck --version | sed -n 's/^version: //p'), $(nginx -v 2>&1)"

[ -x "$HMG_BIN" ] || { echo "no server binary at $HMG_BIN (step 10 builds it)" >&2; exit 1; }
"$HMG_BIN" contract > "$OUT/contract.json"
export HMG_CONTRACT=$OUT/contract.json HMG_BIN

pytest_run() { # report name, test files...
  local name=$1; shift
  (cd "$ROOT/tests/containers" && pytest -q -p no:cacheprovider --junitxml="$OUT/$name.xml" "$@")
}

phase "static checks"
pytest_run static test_dockerfiles.py test_compose.py test_nginx_configs.py

phase "local stack"
export LOCAL_STACK_DIR=$OUT/local-stack
rm -rf "$LOCAL_STACK_DIR"
trap '"$ROOT/scripts/local-stack.sh" down || true' EXIT
# The tests send a few thousand requests from one address within a minute: lift the per-client limit (the
# guide's checks and a whole game pass under compose's 300 as well).
RATE_LIMIT_MAX_REQUESTS=100000 "$ROOT/scripts/local-stack.sh" up
"$ROOT/scripts/local-stack.sh" check
pytest_run live test_frontend_nginx.py test_proxy.py test_proxy_faults.py test_scaling.py
"$ROOT/scripts/local-stack.sh" down
trap - EXIT

phase "backend image build stage"
# Offline like the image build would be online: the root build already fetched the same lock; make sure.
cargo fetch --locked --manifest-path "$ROOT/Cargo.toml" -q
# The image builds from backend/ as committed (image_build.py uses git archive HEAD): compare those locks.
cmp -s <(git -C "$ROOT" show HEAD:Cargo.lock) <(git -C "$ROOT" show HEAD:backend/Cargo.lock) \
  || { echo "backend/Cargo.lock differs from Cargo.lock at HEAD" >&2; exit 1; }
# A warm start for the dependency layer, as a warm Docker layer cache would give: step 10's compiled
# dependencies. cargo reuses only artifacts whose fingerprint (features, profile, compiler) matches and rebuilds
# the rest, so this changes the time, not the result. A copy, not hard links: cargo rewrites fingerprint files
# in place, and step 10's build must stay as it is.
IMAGE_TARGET=$ROOT/target/image-build
if [ ! -d "$IMAGE_TARGET/release" ] && [ -d "$ROOT/target/release/deps" ]; then
  mkdir -p "$IMAGE_TARGET/release"
  cp -a "$ROOT/target/release/deps" "$ROOT/target/release/build" "$ROOT/target/release/.fingerprint" \
    "$IMAGE_TARGET/release/"
  echo "seeded $IMAGE_TARGET from target/release ($(du -sh "$IMAGE_TARGET" | cut -f1))"
fi
CARGO_TARGET_DIR=$IMAGE_TARGET python3 "$ROOT/tests/containers/image_build.py"

phase "done"
