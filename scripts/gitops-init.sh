#!/usr/bin/env bash
# Points the GitOps tree at your fork and your hosts. Run it once after forking, review, commit, push.
#
#   scripts/gitops-init.sh REPO_URL [--revision BRANCH] [--acme-email EMAIL]
#                          [--prod-host HOST] [--staging-host HOST]
#
#   REPO_URL        what Argo CD clones: https://github.com/you/humor-memory-game.git or git@host:you/repo.git
#                   (every Application's repoURL and both AppProjects' sourceRepos)
#                   (http://... too, for a git server on your own network)
#   --revision      the branch (or tag) the Applications follow (default: leave as is, main)
#   --acme-email    your address for Let's Encrypt (k8s/cluster-issuer.yaml); it refuses example.com
#   --prod-host     the public host of prod (gitops/environments/prod and k8s/ingress-prod.yaml)
#   --staging-host  the public host of staging (gitops/environments/staging)
#
# It edits files only (idempotent: running it twice changes nothing the second time) and commits nothing.
set -euo pipefail

die() { echo "gitops-init: $*" >&2; exit 1; }
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }

root=$(cd "$(dirname "$0")/.." && pwd)
apps_dir=$root/gitops/applications
issuers=$root/k8s/cluster-issuer.yaml
prod_ingress=$root/k8s/ingress-prod.yaml
staging_env=$root/gitops/environments/staging/kustomization.yaml
prod_env=$root/gitops/environments/prod/kustomization.yaml

url='' revision='' email='' prod_host='' staging_host=''
need() { if [ $# -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value"; fi; }
while [ $# -gt 0 ]; do
  case $1 in
    --revision) need "$@"; revision=$2; shift 2 ;;
    --acme-email) need "$@"; email=$2; shift 2 ;;
    --prod-host) need "$@"; prod_host=$2; shift 2 ;;
    --staging-host) need "$@"; staging_host=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option '$1' (try --help)" ;;
    *) [ -z "$url" ] || die "one repository URL only, got '$url' and '$1'"; url=$1; shift ;;
  esac
done
[ -n "$url" ] || { usage >&2; exit 2; }

# Validate everything before touching any file, so a typo never leaves a half-edited tree.
[[ $url =~ ^(https?://[A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._~/-]+|ssh://[A-Za-z0-9._-]+@[A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._~/-]+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~/-]+)$ ]] \
  || die "'$url' does not look like a git URL (https://host/owner/repo.git or git@host:owner/repo.git)"
case $url in *your-org*) die "'$url' is the placeholder; give your fork's URL" ;; esac
if [ -n "$revision" ]; then
  [[ $revision =~ ^[A-Za-z0-9._/-]+$ ]] || die "'$revision' is not a valid branch or tag name"
fi
host_re='^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$'
for h in "$prod_host" "$staging_host"; do
  [ -z "$h" ] || [[ $h =~ $host_re ]] || die "'$h' is not a lower-case DNS host name (e.g. game.yourdomain.com)"
done
if [ -n "$prod_host" ] && [ "$prod_host" = "$staging_host" ]; then
  die "prod and staging need different hosts"
fi
if [ -n "$email" ]; then
  [[ $email =~ ^[^@[:space:]]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$ ]] || die "'$email' is not an e-mail address"
  case ${email##*@} in
    example.com|example.org|example.net|*.example.com|*.invalid|localhost) die "Let's Encrypt refuses '$email'; use a real address" ;;
  esac
fi
for f in "$apps_dir"/*.yaml "$issuers" "$prod_ingress" "$staging_env" "$prod_env"; do
  [ -f "$f" ] || die "$f not found (run this from a checkout of the repository)"
done

changed=()
work=$(mktemp)
trap 'rm -f "$work"' EXIT
# Moves the new content in $work over $1 only if it differs, and records the change. (Called in the main
# shell, never at the end of a pipeline, so `changed` survives.)
commit_file() {
  if ! cmp -s "$work" "$1"; then
    cat "$work" >"$1"
    changed+=("${1#"$root"/}")
  fi
}

# Repository: every `repoURL:` and the single entry under each `sourceRepos:`.
for f in "$apps_dir"/*.yaml; do
  awk -v url="$url" -v rev="$revision" '
    after_repos { match($0, /^[[:space:]]*-[[:space:]]*/); print substr($0, 1, RLENGTH) url; after_repos = 0; next }
    /^[[:space:]]*sourceRepos:[[:space:]]*$/ { after_repos = 1 }
    /^[[:space:]]*repoURL:/ { match($0, /^[[:space:]]*repoURL:/); print substr($0, 1, RLENGTH) " " url; next }
    rev != "" && /^[[:space:]]*targetRevision:/ { match($0, /^[[:space:]]*targetRevision:/); print substr($0, 1, RLENGTH) " " rev; next }
    { print }
  ' "$f" >"$work"
  commit_file "$f"
done

if [ -n "$email" ]; then
  awk -v email="$email" '
    /^[[:space:]]*email:/ { match($0, /^[[:space:]]*email:/); print substr($0, 1, RLENGTH) " " email; next }
    { print }
  ' "$issuers" >"$work"
  commit_file "$issuers"
fi

# The current host of an environment is the one in its CORS_ORIGIN patch (https://HOST).
current_host() {
  awk '/path: \/data\/CORS_ORIGIN/ { getline; sub(/^[^:]*value:[[:space:]]*https:\/\//, ""); print; exit }' "$1"
}
# Replaces every occurrence of host $2 by $3 in file $1 (dots matched literally).
swap_host() {
  sed "s/$(printf '%s' "$2" | sed 's/[.[\*^$/]/\\&/g')/$3/g" "$1" >"$work"
  commit_file "$1"
}

if [ -n "$prod_host" ]; then
  old=$(current_host "$prod_env")
  [ -n "$old" ] || die "no CORS_ORIGIN patch found in $prod_env"
  swap_host "$prod_env" "$old" "$prod_host"
  swap_host "$prod_ingress" "$old" "$prod_host"
fi
if [ -n "$staging_host" ]; then
  old=$(current_host "$staging_env")
  [ -n "$old" ] || die "no CORS_ORIGIN patch found in $staging_env"
  swap_host "$staging_env" "$old" "$staging_host"
fi

if [ ${#changed[@]} -eq 0 ]; then
  echo "gitops-init: nothing to change; the tree already points at $url"
else
  echo "gitops-init: updated ${#changed[@]} file(s):"
  printf '  %s\n' "${changed[@]}"
  echo "Next: review with 'git diff', commit, push, then: kubectl apply -f gitops/applications/dev-app.yaml"
fi
