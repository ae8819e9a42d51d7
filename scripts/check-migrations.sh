#!/usr/bin/env bash
# Migrations are append-only: once committed, a migration file never changes (a database that applied it
# records its checksum, and the next release would refuse to start on it). This fails when any migration
# differs from the version of the commit that added it. Run from the repository root (CI step 10).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
while IFS= read -r file; do
  added=$(git log --diff-filter=A --format=%H -1 -- "$file")
  if [ -z "$added" ]; then
    continue # not committed yet: a new migration
  fi
  if ! git diff --quiet "$added" HEAD -- "$file" || ! git diff --quiet HEAD -- "$file"; then
    echo "check-migrations: $file changed after ${added:0:10} added it; add a new migration instead" >&2
    status=1
  fi
done < <(git ls-files 'backend/store/migrations/*/*.sql')
exit $status
