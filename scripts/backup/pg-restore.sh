#!/usr/bin/env bash
# Restores a dump made by pg-backup.sh into the database named by PGDATABASE (libpq variables as for
# pg-backup.sh). Objects in the dump are dropped and recreated in one transaction: on any error nothing
# changes. Tables added after the dump (by newer migrations) are left alone; the backend's migrations bring
# the schema forward again at its next start.
#
#   pg-restore.sh --yes FILE
#     --yes   required: the restore replaces the data of every table in the dump
set -euo pipefail

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "pg-restore: $*" >&2; exit 1; }

confirmed=0
file=
while [ $# -gt 0 ]; do
  case $1 in
    --yes) confirmed=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option '$1' (try --help)" ;;
    *) [ -z "$file" ] || die "only one dump file, got '$file' and '$1'"; file=$1; shift ;;
  esac
done

[ -n "$file" ] || die "no dump file given (usage: pg-restore.sh --yes FILE)"
[ -f "$file" ] || die "'$file' is not a file"
[ -n "${PGDATABASE:-}" ] || die "PGDATABASE is not set (the database to restore into)"
command -v pg_restore >/dev/null || die "pg_restore not found on PATH"
pg_restore --list "$file" >/dev/null 2>&1 || die "'$file' is not a pg_dump custom-format archive"
[ "$confirmed" = 1 ] || die "this replaces the data in '$PGDATABASE' on ${PGHOST:-local socket}; add --yes to go on"

started=$(date +%s)
pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction --exit-on-error \
  --dbname="$PGDATABASE" "$file" || die "restore failed; the database is unchanged"
echo "pg-restore: restored $file into $PGDATABASE in $(( $(date +%s) - started ))s"
