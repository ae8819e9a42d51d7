#!/usr/bin/env bash
# Builds the previous release's server binary for the rollback scenario (and scripts/bench.sh's baseline) and prints its path.
#
# "Previous release" = the parent of the commit that added the newest PostgreSQL migration, so the rollback runs a
# binary that really is one schema version behind (expand/contract: docs/decisions.md). The build happens in a git
# worktree outside the repository, with a copy of target/release's compiled dependencies (a copy, not links: cargo
# rewrites fingerprints in place, and step 10's build must stay as it is), so only the workspace crates compile.
# When only one migration is committed there is no earlier schema: it prints $HMG_BIN and says so on stderr.
#
# usage: reliability/build-previous.sh [REF]     (REF overrides the choice above)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HMG_BIN=${HMG_BIN:-$ROOT/target/release/humor-memory-game}
OUT=$ROOT/target/reliability/previous
say() { echo "build-previous: $*" >&2; }

cd "$ROOT"
ref=${1:-}
if [ -z "$ref" ]; then
  newest=$(git ls-files 'backend/store/migrations/postgres/*.sql' | sort | tail -1)
  [ -n "$newest" ] || { say "no committed PostgreSQL migration"; exit 1; }
  added=$(git log --diff-filter=A --format=%H -1 -- "$newest")
  if [ "$(git ls-files 'backend/store/migrations/postgres/*.sql' | wc -l)" -lt 2 ]; then
    say "only $newest is committed: no earlier schema, the previous release is the current binary"
    echo "$HMG_BIN"
    exit 0
  fi
  ref="$added^"
  say "newest migration $(basename "$newest") was added in ${added:0:10}; previous release = its parent"
fi
rev=$(git rev-parse --verify "$ref^{commit}")
short=${rev:0:10}
bin=$OUT/humor-memory-game-$short
if [ -x "$bin" ]; then
  say "already built: $bin"
  echo "$bin"
  exit 0
fi

mkdir -p "$OUT"
tree=$(mktemp -d /tmp/hmg-prev-XXXXXX)
target=$OUT/target
cleanup() { git -C "$ROOT" worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"; }
trap cleanup EXIT
git worktree add --detach --quiet "$tree" "$rev"
if [ ! -d "$target/release/deps" ] && [ -d "$ROOT/target/release/deps" ]; then
  mkdir -p "$target/release"
  cp -a "$ROOT/target/release/deps" "$ROOT/target/release/build" "$ROOT/target/release/.fingerprint" "$target/release/"
  say "seeded $target from target/release"
fi
say "building $short (cargo build --release --locked -p humor-server)"
t0=$SECONDS
# The revision the binary reports in build_info (the worktree's own git would say the same).
(cd "$tree" && SOURCE_REVISION=$rev CARGO_TARGET_DIR=$target cargo build --release --locked -q -p humor-server >&2)
cp "$target/release/humor-memory-game" "$bin.tmp"
mv "$bin.tmp" "$bin"
say "built $bin in $((SECONDS - t0))s"
echo "$bin"
