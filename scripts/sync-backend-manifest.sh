#!/usr/bin/env bash
# backend/ is the whole build context of the backend image (the guide: `docker build ... backend/`), so it
# carries its own workspace manifest (backend/Cargo.image.toml, renamed to Cargo.toml inside the image; a file
# named Cargo.toml in backend/ would hijack the root workspace) and a copy of the root Cargo.lock.
# Both are derived from the root files by this script.
#
#   scripts/sync-backend-manifest.sh          rewrite them
#   scripts/sync-backend-manifest.sh --check  fail if they are stale (CI)
set -euo pipefail
cd "$(dirname "$0")/.."

render_manifest() {
  printf '%s\n' "# GENERATED from the root Cargo.toml by scripts/sync-backend-manifest.sh: do not edit."
  printf '%s\n' "# The workspace of the backend image build, where backend/ is the root (see backend/Dockerfile)."
  # Member and dependency paths lose their backend/ prefix; the root's header comment is dropped.
  sed -e '/^# /d' -e 's|"backend/|"|g' Cargo.toml
}

case ${1:-} in
  --check)
    status=0
    if ! diff -u backend/Cargo.image.toml <(render_manifest); then
      echo "backend/Cargo.image.toml is stale: run scripts/sync-backend-manifest.sh" >&2
      status=1
    fi
    if ! cmp -s Cargo.lock backend/Cargo.lock; then
      echo "backend/Cargo.lock differs from Cargo.lock: run scripts/sync-backend-manifest.sh" >&2
      status=1
    fi
    exit $status
    ;;
  "")
    render_manifest > backend/Cargo.image.toml
    cp Cargo.lock backend/Cargo.lock
    echo "updated backend/Cargo.image.toml and backend/Cargo.lock"
    ;;
  *)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac
