#!/usr/bin/env bash
# Promotes the image tags of one environment to another, e.g. `./promote.sh dev staging`
# (run from the GitOps root, as the guide does; the script finds its own folder anyway).
#
#   ./promote.sh [--no-push] FROM TO        FROM, TO: dev, staging or prod
#
# Copies every image tag of environments/FROM/kustomization.yaml into environments/TO, shows the diff of
# the rendered manifests, commits that one file with a message naming each tag, and pushes when the
# branch has an upstream (unless --no-push). Refuses an unknown environment, a tree with uncommitted
# changes, and a target that would not render. Needs git and kubectl (for `kubectl kustomize`).
set -euo pipefail

ENVIRONMENTS=(dev staging prod)

die() { echo "promote: $*" >&2; exit 1; }
usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }

push=auto
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --no-push) push=no; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option '$1' (try --help)" ;;
    *) args+=("$1"); shift ;;
  esac
done
[ ${#args[@]} -eq 2 ] || { usage >&2; exit 2; }
from=${args[0]}
to=${args[1]}

known() { local e; for e in "${ENVIRONMENTS[@]}"; do [ "$e" = "$1" ] && return 0; done; return 1; }
known "$from" || die "unknown environment '$from' (known: ${ENVIRONMENTS[*]})"
known "$to" || die "unknown environment '$to' (known: ${ENVIRONMENTS[*]})"
[ "$from" != "$to" ] || die "FROM and TO are both '$from'"

cd "$(dirname "$0")"
src=environments/$from/kustomization.yaml
dst=environments/$to/kustomization.yaml
[ -f "$src" ] || die "$src not found"
[ -f "$dst" ] || die "$dst not found"
command -v git >/dev/null || die "git not found"
command -v kubectl >/dev/null || die "kubectl not found (needed to render the environments)"
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || die "$(pwd) is not inside a git work tree"

# Uncommitted changes would either ride along unnoticed or make the promotion commit lie.
dirty=$(git status --porcelain -- .)
[ -z "$dirty" ] || die "uncommitted changes in the GitOps tree; commit or discard them first:
$dirty"

# Prints "name tag" for each entry of the kustomization's top-level `images:` list.
read_tags() {
  awk '
    /^images:/ { inside = 1; next }
    inside && /^[^[:space:]#-]/ { inside = 0 }
    inside && /^[[:space:]]*-?[[:space:]]*name:/ { sub(/^[^:]*name:[[:space:]]*/, ""); name = $0; next }
    inside && /^[[:space:]]*-?[[:space:]]*newTag:/ {
      sub(/^[^:]*newTag:[[:space:]]*/, ""); gsub(/["'\'']/, ""); sub(/[[:space:]]+#.*$/, "")
      print name, $0
    }
  ' "$1"
}

# Rewrites the newTag of image $2 to $3 in file $1 (keeps indentation, writes the tag unquoted).
set_tag() {
  awk -v want="$2" -v tag="$3" '
    /^images:/ { inside = 1; print; next }
    inside && /^[^[:space:]#-]/ { inside = 0 }
    inside && /^[[:space:]]*-?[[:space:]]*name:/ {
      n = $0; sub(/^[^:]*name:[[:space:]]*/, "", n); current = n
    }
    inside && current == want && /^[[:space:]]*-?[[:space:]]*newTag:/ {
      match($0, /^[^:]*newTag:/); print substr($0, 1, RLENGTH) " " tag; next
    }
    { print }
  ' "$1" >"$1.promote.tmp" && mv "$1.promote.tmp" "$1"
}

mapfile -t source_tags < <(read_tags "$src")
[ ${#source_tags[@]} -gt 0 ] || die "$src has no images: entries with a newTag"
mapfile -t target_tags < <(read_tags "$dst")

target_tag_of() {
  local line
  for line in "${target_tags[@]}"; do
    [ "${line%% *}" = "$1" ] && { echo "${line#* }"; return 0; }
  done
  return 1
}

before=$(mktemp)
after=$(mktemp)
backup=$(mktemp)
trap 'rm -f "$before" "$after" "$backup" "$dst.promote.tmp"' EXIT
cp "$dst" "$backup"
kubectl kustomize "environments/$to" >"$before" || die "environments/$to does not render before the change"

# Plan every change before touching the file, so a refusal never leaves it half-edited.
changes=()
summary=()
plan=()
for line in "${source_tags[@]}"; do
  image=${line%% *}
  tag=${line#* }
  short=${image##*/}
  [[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$ ]] || die "$src: '$tag' is not a valid image tag for $image"
  old=$(target_tag_of "$image") || die "$dst has no images: entry for $image; add one first"
  if [ "$old" = "$tag" ]; then
    summary+=("$short $tag (unchanged)")
  else
    plan+=("$image $tag")
    changes+=("$short $old -> $tag")
    summary+=("$short $tag (was $old)")
  fi
done
for line in "${plan[@]}"; do
  set_tag "$dst" "${line%% *}" "${line#* }"
done

joined=$(printf '%s, ' "${summary[@]}")
joined=${joined%, }
if [ ${#changes[@]} -eq 0 ]; then
  echo "promote: $to already runs what $from runs ($joined); nothing to do"
  exit 0
fi

if ! kubectl kustomize "environments/$to" >"$after"; then
  cp "$backup" "$dst"
  die "environments/$to does not render after the change; nothing was changed"
fi
# kustomize ignores an images: entry that matches no container; check the result really runs the tags.
mapfile -t rendered_images < <(sed -n 's/^[[:space:]-]*image:[[:space:]]*//p' "$after")
for line in "${source_tags[@]}"; do
  image=${line%% *}
  tag=${line#* }
  found=0
  for ref in "${rendered_images[@]}"; do
    [ "${ref%:*}" = "$image" ] || continue
    found=1
    if [ "$ref" != "$image:$tag" ]; then
      cp "$backup" "$dst"
      die "the rendered $to manifests still run $ref, not $image:$tag; nothing was changed"
    fi
  done
  if [ "$found" = 0 ]; then
    cp "$backup" "$dst"
    die "no container in the rendered $to manifests uses $image; nothing was changed"
  fi
done

echo "promote: rendered diff for $to:"
diff -u --label "$to (before)" --label "$to (after)" "$before" "$after" || true

message="Promote $from to $to: $joined"
git add -- "$dst"
git commit -q -m "$message" -- "$dst"
echo "promote: committed \"$message\""

if [ "$push" = no ]; then
  echo "promote: not pushed (--no-push); run git push when ready"
elif git rev-parse --abbrev-ref --symbolic-full-name '@{u}' >/dev/null 2>&1; then
  git push -q
  echo "promote: pushed; Argo CD picks the change up on its next poll (or press Refresh)"
else
  echo "promote: the branch has no upstream; push it yourself so Argo CD sees the change"
fi
