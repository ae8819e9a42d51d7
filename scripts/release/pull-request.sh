#!/usr/bin/env bash
# Runs a command that commits to the GitOps tree on a new branch, pushes the branch and opens a pull request
# against the branch it started from, titled with the commit's subject. The workflows use it for the dev
# deployment of a release (bump-dev-tag.sh) and for promotions (gitops/promote.sh), so a person reviews and
# merges every change Argo CD will deploy.
#
#   scripts/release/pull-request.sh BRANCH -- COMMAND [ARGS...]
#
# Exits 0 without a branch or pull request when the command commits nothing (the change is already there).
# Needs git with a remote `origin`, and the GitHub CLI `gh` with GH_TOKEN set (as in GitHub Actions).
set -euo pipefail

die() { echo "pull-request: $*" >&2; exit 1; }

if [ $# -lt 3 ] || [ "$2" != "--" ]; then
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
branch=$1
shift 2
git check-ref-format --branch "$branch" >/dev/null 2>&1 || die "'$branch' is not a valid branch name"
base=$(git rev-parse --abbrev-ref HEAD)
[ "$base" != HEAD ] || die "not on a branch (the pull request needs a base branch)"
[ -z "$(git status --porcelain)" ] || die "the work tree has uncommitted changes"
if git ls-remote --exit-code --heads origin "$branch" >/dev/null 2>&1; then
  die "branch $branch already exists on origin; merge or delete its pull request first"
fi
command -v gh >/dev/null || die "the GitHub CLI gh is not installed"

start=$(git rev-parse HEAD)
git switch -q -c "$branch"
"$@"
if [ "$(git rev-parse HEAD)" = "$start" ]; then
  echo "pull-request: '$*' committed nothing; no pull request"
  git switch -q "$base"
  git branch -q -D "$branch"
  exit 0
fi
[ -z "$(git status --porcelain)" ] || die "'$*' left uncommitted changes"

git push -q origin "$branch"
title=$(git log -1 --format=%s)
body="$(git log --format='- %s' "$start..HEAD")

Opened by \`scripts/release/pull-request.sh\` running \`$*\`."
url=$(gh pr create --base "$base" --head "$branch" --title "$title" --body "$body")
echo "pull-request: opened $url"
