#!/usr/bin/env bash
# Moves the dev environment to a released version: sets the newTag of the backend and the frontend image in
# gitops/environments/dev/kustomization.yaml to TAG, checks that the rendered environment runs exactly those
# images, and with --commit commits that one file. The release workflow runs it (through pull-request.sh) and
# opens a pull request with the commit; Argo CD deploys dev once it is merged.
#
#   scripts/release/bump-dev-tag.sh [--commit] TAG        TAG: vMAJOR.MINOR.PATCH, e.g. v1.2.0
#
# The guide's `sed -i 's/newTag: v1.1.0/newTag: v1.2.0/g' environments/dev/kustomization.yaml`, done safely: only
# the two images' entries change, whatever tag they had before; a malformed tag, a missing entry, uncommitted
# changes to the file or a render that does not run the new tag leave the file as it was. Needs git and kubectl.
set -euo pipefail

die() { echo "bump-dev-tag: $*" >&2; exit 1; }
usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }

commit=no
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --commit) commit=yes; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option '$1' (try --help)" ;;
    *) args+=("$1"); shift ;;
  esac
done
[ ${#args[@]} -eq 1 ] || { usage >&2; exit 2; }
tag=${args[0]}
# A release tag, as the release workflow is triggered by; also a valid image tag.
[[ $tag =~ ^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$ ]] \
  || die "'$tag' is not a release tag like v1.2.0"

root=$(cd "$(dirname "$0")/../.." && pwd)
env_dir=$root/gitops/environments/dev
file=$env_dir/kustomization.yaml
[ -f "$file" ] || die "$file not found"
command -v kubectl >/dev/null || die "kubectl not found (needed to render the environment)"
if [ "$commit" = yes ]; then
  git -C "$root" diff --quiet HEAD -- "$file" || die "$file has uncommitted changes; commit or discard them first"
fi

# Prints the file with newTag rewritten in the entries of the top-level images: list whose name ends in /backend
# or /frontend, and reports each such entry as "# name old-tag" on stderr.
rewrite() {
  awk -v tag="$tag" '
    /^images:/ { in_images = 1; print; next }
    in_images && /^[^[:space:]#-]/ { in_images = 0 }
    in_images && /^[[:space:]]*-?[[:space:]]*name:/ {
      image = $0; sub(/^[^:]*name:[[:space:]]*/, "", image); sub(/[[:space:]]+#.*$/, "", image)
      wanted = (image ~ /\/(backend|frontend)$/)
    }
    in_images && wanted && /^[[:space:]]*-?[[:space:]]*newTag:/ {
      old = $0; sub(/^[^:]*newTag:[[:space:]]*/, "", old); sub(/[[:space:]]+#.*$/, "", old); gsub(/["'\'']/, "", old)
      match($0, /^[^:]*newTag:/)
      print substr($0, 1, RLENGTH) " " tag
      printf "# %s %s\n", image, old > "/dev/stderr"
      wanted = 0
      next
    }
    { print }
  ' "$file"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rewrite >"$work/new.yaml" 2>"$work/changed"
mapfile -t changed < <(sed -n 's/^# //p' "$work/changed")
[ ${#changed[@]} -eq 2 ] || die "$file must have one images: entry with a newTag for the backend and one for the frontend (found ${#changed[@]})"

summary=()
moved=0
for line in "${changed[@]}"; do
  image=${line% *}
  old=${line##* }
  if [ "$old" = "$tag" ]; then
    summary+=("${image##*/} $tag (unchanged)")
  else
    summary+=("${image##*/} $old -> $tag")
    moved=1
  fi
done
joined=$(printf '%s, ' "${summary[@]}")
joined=${joined%, }
if [ "$moved" = 0 ]; then
  echo "bump-dev-tag: dev already runs $tag ($joined); nothing to do"
  exit 0
fi

# Render the changed environment before touching the real file: kustomize ignores an entry that matches no
# container, so check the result really runs both images at the new tag.
cp -r "$root/gitops" "$work/gitops"
ln -s "$root/k8s" "$work/k8s"
cp "$work/new.yaml" "$work/gitops/environments/dev/kustomization.yaml"
kubectl kustomize "$work/gitops/environments/dev" >"$work/rendered.yaml" \
  || die "gitops/environments/dev does not render with the new tag; nothing was changed"
# By the image's last path component: an entry may also set newName (a registry other than the guide's).
for line in "${changed[@]}"; do
  short=${line% *}
  short=${short##*/}
  refs=$(sed -n 's/^[[:space:]-]*image:[[:space:]]*//p' "$work/rendered.yaml" | tr -d '"' | grep "/$short:" | sort -u || true)
  [ -n "$refs" ] || die "no container in the rendered dev environment runs the $short image; nothing was changed"
  stale=$(grep -v ":$tag\$" <<<"$refs" || true)
  [ -z "$stale" ] || die "the rendered dev environment still runs $stale, not $tag; nothing was changed"
done

cp "$work/new.yaml" "$file"
echo "bump-dev-tag: gitops/environments/dev: $joined"
git -C "$root" --no-pager diff -- "$file"
if [ "$commit" = yes ]; then
  message="Deploy $tag to dev: $joined"
  git -C "$root" commit -q -m "$message" -- "$file"
  echo "bump-dev-tag: committed \"$message\""
fi
