#!/usr/bin/env bash
# The backend image's build command, in one place: backend/Dockerfile runs it, and CI runs the same
# Dockerfile steps on a copy of backend/ alone (tests/containers/image_build.py), so the two cannot drift.
# Run it from the root of the build context (backend/ is the whole context: `docker build backend/`).
#
#   ./build-release.sh --deps   compile only the dependencies, against placeholder sources: the Dockerfile
#                               runs this with nothing but the manifests copied, so the slow layer stays
#                               cached until Cargo.lock or a manifest changes
#   ./build-release.sh          compile the real binary into dist/humor-memory-game
#
# The default feature `embed-frontend` is off: the frontend has its own nginx image, and frontend/ is not in
# this build context. Honours CARGO_TARGET_DIR and CARGO_NET_OFFLINE (CI builds offline from its cache).
set -euo pipefail

BIN=humor-memory-game
PACKAGE=humor-server

die() { echo "build-release.sh: $*" >&2; exit 1; }

mode=real
case ${1:-} in
  --deps) mode=deps ;;
  "") ;;
  *) die "unknown argument '$1' (usage: ./build-release.sh [--deps])" ;;
esac

[ -f Cargo.image.toml ] || die "run me from the build context root (backend/): Cargo.image.toml not found in $PWD"
[ -f Cargo.lock ] || die "Cargo.lock not found in $PWD (backend/Cargo.lock is the root lock file's copy)"

# It writes Cargo.toml, src placeholders and dist/ into the current directory: never into the repository's
# backend/, where a Cargo.toml would hijack the root workspace. Work on a copy (as docker build does).
if [ -f ../Cargo.toml ] && grep -q '"backend/' ../Cargo.toml; then
  die "refusing to run inside the repository's backend/: build a copy (docker build backend/, or CI's image_build.py)"
fi

# The workspace manifest of the image: members are relative to backend/.
cp Cargo.image.toml Cargo.toml
# The members array, on one line or several: everything from `members = [` to the closing bracket.
mapfile -t members < <(awk '/^members *= *\[/ { on = 1 } on { print; if (/\]/) exit }' Cargo.toml \
  | sed 's/^members *= *//' | tr ',' '\n' | tr -d '[]" ' | sed '/^$/d')
[ ${#members[@]} -gt 0 ] || die "no workspace members found in Cargo.image.toml"

# Every target a manifest declares must exist before cargo will even load the workspace: list them as
# "kind<TAB>name<TAB>path" (path empty when cargo infers it).
declared_targets() {
  awk '
    function flush() { if (kind != "") print kind "\t" name "\t" path; kind = ""; name = ""; path = "" }
    /^\[\[(bin|test|bench|example)\]\]/ { flush(); kind = $0; gsub(/[\[\]]/, "", kind); next }
    /^\[lib\]/ { flush(); kind = "lib"; next }
    /^\[/ { flush(); next }
    kind != "" && /^name *=/ { name = $0; sub(/^name *= *"/, "", name); sub(/".*/, "", name) }
    kind != "" && /^path *=/ { path = $0; sub(/^path *= *"/, "", path); sub(/".*/, "", path) }
    /^build *= *"/ { b = $0; sub(/^build *= *"/, "", b); sub(/".*/, "", b); print "build\t\t" b }
    END { flush() }
  ' "$1"
}

placeholder() { # file, content
  if [ ! -e "$1" ]; then mkdir -p "$(dirname "$1")" && printf '%s\n' "$2" > "$1"; fi
}

if [ "$mode" = deps ]; then
  for m in "${members[@]}"; do
    [ -f "$m/Cargo.toml" ] || die "member '$m' has no Cargo.toml"
    placeholder "$m/src/lib.rs" ""
    while IFS=$'\t' read -r kind name path; do
      case $kind in
        lib) [ -z "$path" ] || placeholder "$m/$path" "" ;;
        bin) placeholder "$m/${path:-src/bin/$name.rs}" "fn main() {}" ;;
        test) placeholder "$m/${path:-tests/$name.rs}" "fn main() {}" ;;
        bench) placeholder "$m/${path:-benches/$name.rs}" "fn main() {}" ;;
        example) placeholder "$m/${path:-examples/$name.rs}" "fn main() {}" ;;
        build) placeholder "$m/$path" "fn main() {}" ;;
      esac
    done < <(declared_targets "$m/Cargo.toml")
  done
else
  # The placeholders from the --deps layer are newer than the real files copied over them (COPY keeps the
  # context's timestamps), so cargo would think the workspace crates are up to date: make them newer.
  for m in "${members[@]}"; do find "$m" -type f -exec touch {} +; done
fi

cargo build --release --locked --no-default-features -p "$PACKAGE"

if [ "$mode" = real ]; then
  mkdir -p dist
  install -m 0755 "${CARGO_TARGET_DIR:-target}/release/$BIN" "dist/$BIN"
  echo "built dist/$BIN"
fi
