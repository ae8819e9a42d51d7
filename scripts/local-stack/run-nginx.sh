#!/usr/bin/env bash
# Runs nginx with one of the repository's config files UNCHANGED, the way its container runs it, in a private
# mount namespace: the config mounted at /etc/nginx/nginx.conf, its own /etc/hosts (compose service names ->
# local addresses), a read-only root filesystem with an empty tmpfs at /tmp (the configs keep pid and temp files
# there), for the frontend the document root at /usr/share/nginx/html, and nginx running unprivileged like the
# nginx-unprivileged images (uid 101 there; here uid/gid 10101, because host uid 101 is often a real account,
# postgres on Debian, and nginx must not share a uid with anything on the host). nginx is exec'd in the foreground, so the caller's $! is the nginx master's PID
# (stop it with kill). Needs root (unshare, mount, chroot).
#
# usage: run-nginx.sh --conf FILE [--hosts FILE] [--docroot DIR] [--test]
#   --test   only check the config (nginx -t) in the same setting, then exit
set -euo pipefail

die() { echo "run-nginx.sh: $*" >&2; exit 2; }

NGINX_UID=10101

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
  [ "$(id -u)" -eq 0 ] || die "needs root: it builds the container's filesystem in a new mount namespace"
  conf=$(realpath "$conf")
  args=(--inside --conf "$conf")
  if [ -n "$hosts" ]; then args+=(--hosts "$(realpath "$hosts")"); fi
  if [ -n "$docroot" ]; then
    docroot=$(realpath "$docroot")
    args+=(--docroot "$docroot")
  fi
  if [ "$test_only" -eq 1 ]; then args+=(--test); fi
  # Mount points the namespace needs on its read-only root (Debian's nginx package has them).
  [ -f /etc/nginx/nginx.conf ] || die "/etc/nginx/nginx.conf is missing (reinstall Debian's nginx)"
  mkdir -p /usr/share/nginx/html
  # --propagation private: nothing mounted below leaks into the host's mount table.
  exec unshare --mount --propagation private -- bash "$(realpath "$0")" "${args[@]}"
fi

# The container's filesystem: the host's, recursively bound at /mnt (so /dev and /proc come along), read-only.
root=/mnt
mount --rbind / "$root"
mount -o remount,bind,ro "$root"
mount -t tmpfs -o mode=1777,size=64m tmpfs "$root/tmp"
mount --bind "$conf" "$root/etc/nginx/nginx.conf"
if [ -n "$hosts" ]; then mount --bind "$hosts" "$root/etc/hosts"; fi
if [ -n "$docroot" ]; then mount --bind -o ro "$docroot" "$root/usr/share/nginx/html"; fi
nginx_args=(-e stderr -c /etc/nginx/nginx.conf)
if [ "$test_only" -eq 1 ]; then nginx_args+=(-t -q); else nginx_args+=(-g 'daemon off;'); fi
# The configs log to /dev/stdout, which nginx reopens as its own user: that works on a pipe it owns (as in a
# container), not on the caller's root-owned file or pipe. So a shell running as that user makes the pipes,
# relays them with cat to the caller's stdout and stderr, and execs nginx (still this PID).
# shellcheck disable=SC2016 # $@ is expanded by the inner bash
exec chroot --userspec="$NGINX_UID:$NGINX_UID" "$root" bash -c 'exec nginx "$@" > >(exec cat) 2> >(exec cat >&2)' \
  nginx "${nginx_args[@]}"
