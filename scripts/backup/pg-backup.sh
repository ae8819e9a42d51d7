#!/usr/bin/env bash
# Dumps the game database to a timestamped custom-format file and keeps the newest N.
# Runs in the postgres-backup CronJob (k8s/postgres-backup.yaml embeds this file) and on a laptop against a
# port-forwarded database. Connection settings are libpq's own variables: PGHOST, PGPORT, PGUSER,
# PGPASSWORD, PGDATABASE.
#
#   pg-backup.sh [--dir DIR] [--keep N]
#     --dir   where dumps go (default $BACKUP_DIR or ./backups)
#     --keep  how many dumps to keep, oldest deleted first (default $BACKUP_KEEP or 7; 0 keeps all)
set -euo pipefail

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "pg-backup: $*" >&2; exit 1; }

dir=${BACKUP_DIR:-./backups}
keep=${BACKUP_KEEP:-7}
while [ $# -gt 0 ]; do
  case $1 in
    --dir) [ $# -ge 2 ] || die "--dir needs a value"; dir=$2; shift 2 ;;
    --keep) [ $# -ge 2 ] || die "--keep needs a value"; keep=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
done

case $keep in ''|*[!0-9]*) die "--keep must be a whole number, got '$keep'" ;; esac
[ -n "${PGDATABASE:-}" ] || die "PGDATABASE is not set (the database to dump)"
command -v pg_dump >/dev/null || die "pg_dump not found on PATH"
command -v pg_restore >/dev/null || die "pg_restore not found on PATH"
mkdir -p "$dir" || die "cannot create backup directory '$dir'"
[ -w "$dir" ] || die "backup directory '$dir' is not writable"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
name="${PGDATABASE}-${stamp}.dump"
final="$dir/$name"
partial="$dir/.${name}.partial"
[ ! -e "$final" ] || die "'$final' already exists (two backups in the same second?)"

# A failed or interrupted dump never leaves a file that looks like a backup.
trap 'rm -f "$partial"' EXIT

started=$(date +%s)
# Custom format: compressed, and pg_restore can restore selectively or in parallel. No owners or grants,
# so a dump restores into a database owned by another role (e.g. a scratch copy).
pg_dump --format=custom --compress=6 --no-owner --no-privileges --file="$partial" \
  || die "pg_dump of '$PGDATABASE' on ${PGHOST:-local socket} failed"

# Prove the file is a readable archive before it counts as a backup.
listing=$(pg_restore --list "$partial") || die "the dump is not a readable archive"
entries=$(printf '%s\n' "$listing" | grep -vc '^;' || true)
[ "$entries" -gt 0 ] || die "the dump lists no objects"

mv "$partial" "$final"
trap - EXIT
bytes=$(wc -c <"$final" | tr -d ' ')
echo "pg-backup: wrote $final ($bytes bytes, $entries archive entries, $(( $(date +%s) - started ))s)"

if [ "$keep" -gt 0 ]; then
  # Names sort by time (UTC stamp), so everything before the newest $keep goes.
  mapfile -t all < <(find "$dir" -maxdepth 1 -type f -name "${PGDATABASE}-*.dump" | sort)
  for (( i = 0; i < ${#all[@]} - keep; i++ )); do
    rm -f -- "${all[$i]}"
    echo "pg-backup: removed old backup ${all[$i]}"
  done
fi
