#!/usr/bin/env bash
# Runs nginx with one of the repository's config files UNCHANGED, in a private mount namespace that plays the
# container's part: its own /etc/hosts (compose service names -> local addresses), its own empty /tmp (the
# configs keep pid and temp files there, as in the read-only-root containers) and, for the frontend, the
# document root mounted at /usr/share/nginx/html. nginx is exec'd in the foreground, so the caller's $! is
# the nginx master's PID (stop it with kill). Needs root (unshare + mount).
#
# usage: run-nginx.sh --conf FILE [--hosts FILE] [--docroot DIR] [--test]
#   --test   only check the config (nginx -t) in the same namespace, then exit
set -euo pipefail

die() { echo "run-nginx.sh: $*" >&2; exit 2; }

conf="" hosts="" docroot="" test_only=0 inside=0
while [ $# -gt 0 ]; do
  case $1 in
    --conf) conf=${2:?--conf needs a file}; shift 2 ;;
    --hosts) hosts=${2:?--hosts needs a file}; shift 2 ;;
    --docroot) docroot=${2:?--docroot needs a directory}; shift 2 ;;
    --test) test_only=1; shift ;;
    --inside) inside=1; shift ;;
    *) die "unknown argument '$1' (usage: run-nginx.sh --conf FILE [--hosts FILE] [--docroot DIR] [--test])" ;;
  esac
done

[ -n "$conf" ] || die "--conf is required"
[ -f "$conf" ] || die "config file '$conf' does not exist"
[ -z "$hosts" ] || [ -f "$hosts" ] || die "hosts file '$hosts' does not exist"
[ -z "$docroot" ] || [ -d "$docroot" ] || die "document root '$docroot' is not a directory"
command -v nginx >/dev/null || die "nginx is not installed (Debian: apt-get install nginx-light)"

if [ "$inside" -eq 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "needs root: it mounts a private /etc/hosts and /tmp in a new mount namespace"
  conf=$(realpath "$conf")
  case $conf in /tmp/*) die "the config must live outside /tmp (the namespace gets its own empty /tmp)" ;; esac
  args=(--inside --conf "$conf")
  if [ -n "$hosts" ]; then args+=(--hosts "$(realpath "$hosts")"); fi
  if [ -n "$docroot" ]; then
    docroot=$(realpath "$docroot")
    case $docroot in /tmp/*) die "the document root must live outside /tmp" ;; esac
    args+=(--docroot "$docroot")
  fi
  if [ "$test_only" -eq 1 ]; then args+=(--test); fi
  # --propagation private: nothing mounted below leaks into the host's mount table.
  exec unshare --mount --propagation private -- bash "$(realpath "$0")" "${args[@]}"
fi

if [ -n "$hosts" ]; then mount --bind "$hosts" /etc/hosts; fi
mount -t tmpfs -o mode=1777,size=64m tmpfs /tmp
if [ -n "$docroot" ]; then
  mkdir -p /usr/share/nginx/html
  mount --bind -o ro "$docroot" /usr/share/nginx/html
fi
if [ "$test_only" -eq 1 ]; then
  exec nginx -t -q -e stderr -c "$conf"
fi
exec nginx -e stderr -c "$conf" -g 'daemon off;'
