#!/usr/bin/env bash
# The compose topology on one machine without Docker, to see the production shape locally (and for CI):
#
#   proxy nginx   :3000        nginx/nginx.conf, unchanged; `backend` -> 127.0.0.2 and 127.0.0.3, `frontend` ->
#                              127.0.0.9 through a private /etc/hosts
#   frontend nginx :8080       frontend/nginx.conf, unchanged, serving frontend/public/ laid out as the image
#                              holds it (assets under static/<content hash>/: frontend/asset-version.mjs)
#                              (both as their containers run: unprivileged, read-only root, tmpfs /tmp; see
#                              scripts/local-stack/run-nginx.sh)
#   backend 1, 2  127.0.0.2:3001, 127.0.0.3:3001   the server binary with compose's settings (up to 7
#                              replicas, 127.0.0.2-127.0.0.8, with `scale N`)
#   Redis         127.0.0.1:6380   its own redis-server, password as in compose (REDISCLI_AUTH)
#   PostgreSQL    127.0.0.1:5432   a private database hmg_containers_<random> on the local server
#
# usage: scripts/local-stack.sh up|down|status|check|scale N|stop-backend N|start-backend N
#   up             start everything (needs root for the nginx namespaces, nginx, redis-server, psql)
#   check          the guide's checks through the proxy, including a whole game
#   down           stop every process by its PID, drop the database
#   scale N        run N backend replicas and restart the proxy's view of them: what
#                  `docker-compose up -d --scale backend=N && docker-compose restart nginx` does
#   stop-backend N / start-backend N   take replica N away or bring it back, to watch failover (the proxy
#                  keeps it in its list, as compose's nginx keeps a stopped container's address)
#
# Settings (environment): HMG_BIN (default target/release/humor-memory-game), LOCAL_STACK_DIR (default
# target/local-stack), LOCAL_STACK_REDIS_PORT (6380), PGHOST/PGPORT/PGUSER for the local PostgreSQL
# (127.0.0.1/5432/postgres), RATE_LIMIT_MAX_REQUESTS (300).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${LOCAL_STACK_DIR:-$ROOT/target/local-stack}
HMG_BIN=${HMG_BIN:-$ROOT/target/release/humor-memory-game}
REDIS_PORT=${LOCAL_STACK_REDIS_PORT:-6380}
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
export PGHOST PGPORT PGUSER
# compose's demo values (docker-compose.yml), so the stack behaves like `docker-compose up` on a fresh clone.
DEMO_PASSWORD=gamepass123
DEMO_JWT_SECRET=your-super-secret-jwt-key
MAX_REPLICAS=7      # replica N listens on 127.0.0.(N+1)
FRONTEND_ADDR=127.0.0.9
BACKEND_PORT=3001   # the container port (docs/contract.json listen.port.container)
PROXY_URL=http://127.0.0.1:3000

die() { echo "local-stack: $*" >&2; exit 1; }
say() { echo "local-stack: $*"; }

need() {
  command -v "$1" >/dev/null || die "$1 is not installed ($2)"
}

# pid files hold "PID<TAB>marker"; a PID is only signalled while /proc/PID/cmdline still contains the marker,
# so a reused PID never gets our signal.
pid_of() {
  local f=$STATE/pids/$1.pid pid marker
  [ -f "$f" ] || return 1
  IFS=$'\t' read -r pid marker < "$f"
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$marker" || return 1
  echo "$pid"
}

record_pid() { printf '%s\t%s\n' "$2" "$3" > "$STATE/pids/$1.pid"; }

stop_one() { # name, seconds to wait for a clean exit
  local name=$1 wait=${2:-10} pid
  if pid=$(pid_of "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((wait * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name (pid $pid) did not stop within ${wait}s, killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$STATE/pids/$name.pid"
}

wait_http() { # url, seconds
  local url=$1 seconds=${2:-30}
  for _ in $(seq 1 $((seconds * 5))); do
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

port_free() { # address, port
  ! (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

db_name() { cat "$STATE/database" 2>/dev/null; }

replica_addr() { echo "127.0.0.$(($1 + 1))"; }

# The proxy's view of the compose service names: `backend` resolves to every replica, as Docker's DNS answers.
# Rewritten in place (same inode): the proxy's namespace sees this file through a bind mount.
write_hosts() { # number of replicas
  local n content
  content="127.0.0.1 localhost"$'\n'
  for n in $(seq 1 "$1"); do content+="$(replica_addr "$n") backend"$'\n'; done
  content+="$FRONTEND_ADDR frontend"$'\n'
  printf '%s' "$content" > "$STATE/hosts"
}

proxy_workers() { # master PID: its worker PIDs, sorted (its other children are the log relays)
  local c
  # `if`, not `&&`: a log relay listed last must not become the loop's status (pipefail would fail the caller;
  # after the PIDs wrap around, the relays can be the newest children).
  for c in $(pgrep -P "$1"); do
    if tr '\0' ' ' < "/proc/$c/cmdline" 2>/dev/null | grep -q '^nginx: worker'; then echo "$c"; fi
  done | sort
}

# docker-compose up -d --scale backend=N && docker-compose restart nginx
cmd_scale() {
  local want=$1 have n pid
  db_name >/dev/null || die "no stack recorded in $STATE (scripts/local-stack.sh up first)"
  have=$(cat "$STATE/replicas")
  for n in $(seq $((have + 1)) "$want"); do start_backend "$n"; done
  for n in $(seq $((want + 1)) "$have"); do stop_one "backend-$n" 30; say "backend $n stopped"; done
  echo "$want" > "$STATE/replicas"
  write_hosts "$want"
  # A reload, not a restart: nginx resolves `backend` again when it reads its config (SIGHUP). Wait until the
  # old workers are gone, so every request from now on sees the new list.
  pid=$(pid_of proxy) || die "the proxy is not running"
  local old
  old=$(proxy_workers "$pid")
  kill -HUP "$pid"
  for _ in $(seq 1 100); do
    [ -z "$(comm -12 <(echo "$old") <(proxy_workers "$pid"))" ] && break
    sleep 0.1
  done
  [ -z "$(comm -12 <(echo "$old") <(proxy_workers "$pid"))" ] || die "the proxy's old workers did not exit"
  say "$want replicas; the proxy re-read its upstreams"
}

backend_env() { # replica number (1-based): the backend's environment, as compose sets it
  local n=$1
  cat <<EOF
NODE_ENV=production
PORT=$BACKEND_PORT
HOST=$(replica_addr "$n")
DB_HOST=$PGHOST
DB_PORT=$PGPORT
DB_NAME=$(db_name)
DB_USER=$PGUSER
DB_PASSWORD=$DEMO_PASSWORD
REDIS_HOST=127.0.0.1
REDIS_PORT=$REDIS_PORT
REDIS_PASSWORD=$DEMO_PASSWORD
JWT_SECRET=$DEMO_JWT_SECRET
REQUIRE_STRONG_SECRETS=false
CORS_ORIGIN=http://localhost:3000
TRUSTED_PROXIES=127.0.0.1/32
RATE_LIMIT_MAX_REQUESTS=$(cat "$STATE/rate-limit")
LOG_LEVEL=info
LOG_FORMAT=json
HTTP_IDLE_TIMEOUT_SECONDS=75
EOF
}

start_backend() {
  local n=$1
  local addr
  addr=$(replica_addr "$n")
  pid_of "backend-$n" >/dev/null && die "backend $n is already running"
  port_free "$addr" "$BACKEND_PORT" || die "$addr:$BACKEND_PORT is already in use"
  local envs=()
  mapfile -t envs < <(backend_env "$n")
  # env -i: only compose's settings reach the server, nothing leaks in from this shell.
  env -i PATH=/usr/bin:/bin "${envs[@]}" "$HMG_BIN" serve < /dev/null >> "$STATE/logs/backend-$n.log" 2>&1 &
  record_pid "backend-$n" $! "$HMG_BIN"
  wait_http "http://$addr:$BACKEND_PORT/health/ready" 60 \
    || die "backend $n did not become ready on $addr:$BACKEND_PORT (see $STATE/logs/backend-$n.log)"
  say "backend $n ready on $addr:$BACKEND_PORT (pid $(pid_of "backend-$n"))"
}

cmd_up() {
  [ "$(id -u)" -eq 0 ] || die "needs root (nginx runs in private mount namespaces)"
  need nginx "Debian: apt-get install nginx-light"
  need redis-server "Debian: apt-get install redis-server"
  need redis-cli "Debian: apt-get install redis-tools"
  need psql "Debian: apt-get install postgresql-client"
  need curl "Debian: apt-get install curl"
  need unshare "Debian: util-linux"
  need node "Debian: apt-get install nodejs"
  [ -x "$HMG_BIN" ] || die "no server binary at $HMG_BIN (build it with cargo build --release, or set HMG_BIN)"
  [ -d "$ROOT/frontend/public" ] || die "frontend/public/ is missing"
  if [ -d "$STATE/pids" ] && [ -n "$(ls -A "$STATE/pids")" ]; then
    die "a stack is already recorded in $STATE (scripts/local-stack.sh down first)"
  fi
  pg_isready -q || die "PostgreSQL is not answering on $PGHOST:$PGPORT"
  port_free 127.0.0.1 3000 || die "port 3000 is in use"
  port_free 127.0.0.1 8080 || die "port 8080 is in use"
  port_free 127.0.0.1 "$REDIS_PORT" || die "port $REDIS_PORT is in use (set LOCAL_STACK_REDIS_PORT)"

  mkdir -p "$STATE/pids" "$STATE/logs" "$STATE/redis"
  # Whatever fails below (die exits), stop what was already started.
  trap 'rc=$?; if [ $rc -ne 0 ]; then say "start-up failed, stopping what was started"; cmd_down; fi; exit $rc' EXIT

  local db
  db="hmg_containers_$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
  psql -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db" >/dev/null
  echo "$db" > "$STATE/database"
  # Kept with the stack, so a replica restarted later (start-backend) gets the same limit.
  echo "${RATE_LIMIT_MAX_REQUESTS:-300}" > "$STATE/rate-limit"
  say "PostgreSQL database $db on $PGHOST:$PGPORT"

  # Redis as compose runs it: password required, append-only persistence.
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --requirepass "$DEMO_PASSWORD" --appendonly yes \
    --save "" --dir "$STATE/redis" --daemonize no < /dev/null >> "$STATE/logs/redis.log" 2>&1 &
  record_pid redis $! redis-server
  for _ in $(seq 1 50); do REDISCLI_AUTH=$DEMO_PASSWORD redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  REDISCLI_AUTH=$DEMO_PASSWORD redis-cli -p "$REDIS_PORT" ping | grep -q PONG || die "redis-server did not start"
  say "Redis on 127.0.0.1:$REDIS_PORT (pid $(pid_of redis))"

  start_backend 1
  start_backend 2

  # The page as frontend/Dockerfile lays it out (its layout stage runs this same command).
  rm -rf "$STATE/frontend-html"
  node "$ROOT/frontend/asset-version.mjs" layout "$ROOT/frontend/public" "$STATE/frontend-html" >/dev/null
  "$ROOT/scripts/local-stack/run-nginx.sh" --conf "$ROOT/frontend/nginx.conf" --docroot "$STATE/frontend-html" \
    < /dev/null >> "$STATE/logs/frontend.access.log" 2>> "$STATE/logs/frontend.error.log" &
  record_pid frontend $! "nginx: master"
  wait_http "http://127.0.0.1:8080/health" 20 || die "the frontend nginx did not start (see $STATE/logs/frontend.error.log)"
  say "frontend nginx on :8080 (pid $(pid_of frontend))"

  echo 2 > "$STATE/replicas"
  write_hosts 2
  "$ROOT/scripts/local-stack/run-nginx.sh" --conf "$ROOT/nginx/nginx.conf" --hosts "$STATE/hosts" \
    < /dev/null >> "$STATE/logs/proxy.access.log" 2>> "$STATE/logs/proxy.error.log" &
  record_pid proxy $! "nginx: master"
  wait_http "$PROXY_URL/_proxy/health" 20 || die "the proxy did not start (see $STATE/logs/proxy.error.log)"
  wait_http "$PROXY_URL/api/health" 20 || die "/api/health does not answer through the proxy"
  trap - EXIT
  say "proxy on :3000 (pid $(pid_of proxy)): the game is at http://localhost:3000"
}

cmd_down() {
  [ -d "$STATE/pids" ] || { say "nothing recorded in $STATE"; return 0; }
  stop_one proxy 10
  stop_one frontend 10
  # The backends drain first (DRAIN_DELAY_SECONDS 5 + SHUTDOWN_TIMEOUT_SECONDS 20).
  local waits=() n
  for n in $(seq 1 "$MAX_REPLICAS"); do
    if [ -f "$STATE/pids/backend-$n.pid" ]; then stop_one "backend-$n" 30 & waits+=($!); fi
  done
  if [ ${#waits[@]} -gt 0 ]; then wait "${waits[@]}"; fi
  stop_one redis 10
  local db
  db=$(db_name || true)
  if [ -n "$db" ]; then
    psql -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null && say "dropped database $db"
    rm -f "$STATE/database"
  fi
  rm -f "$STATE/rate-limit" "$STATE/replicas"
  rm -rf "$STATE/redis"
  say "stopped (logs kept in $STATE/logs)"
}

cmd_status() {
  local name pid rc=0
  local replicas
  replicas=$(cat "$STATE/replicas" 2>/dev/null || echo 2)
  for name in proxy frontend $(seq -f 'backend-%g' 1 "$replicas") redis; do
    if pid=$(pid_of "$name"); then echo "$name: up (pid $pid)"; else echo "$name: down"; rc=1; fi
  done
  echo "database: $(db_name || echo none)"
  return $rc
}

# The guide's checks (Milestone 1, "Verify Your Docker App Works First"), through the proxy.
cmd_check() {
  need jq "Debian: apt-get install jq"
  local out db
  db=$(db_name) || die "no stack recorded in $STATE (scripts/local-stack.sh up first)"

  say "curl http://localhost:3000/api/health"
  out=$(curl -fsS "$PROXY_URL/api/health")
  echo "$out"
  jq -e '.status == "healthy" and .services.database == "connected" and .services.redis == "connected"
         and .storage.database == "postgres" and .storage.liveGames == "redis"' <<<"$out" >/dev/null \
    || die "/api/health is not healthy with PostgreSQL and Redis"

  say "curl http://localhost:3000/api/scores"
  out=$(curl -fsS "$PROXY_URL/api/scores")
  jq -e '.success == true and (.recent | type == "array") and (.top | type == "array")' <<<"$out" >/dev/null \
    || die "/api/scores did not answer {success, recent, top}: $out"
  echo "$out" | head -c 300; echo

  say "curl http://localhost:3000 (the game page)"
  out=$(curl -fsS "$PROXY_URL/")
  grep -qi '<!doctype html' <<<"$out" || die "/ did not return the HTML page"

  say "psql -U $PGUSER -d $db -c 'SELECT version();'   (compose: docker-compose exec postgres psql -U gameuser -d humor_memory_game -c ...)"
  psql -d "$db" -tA -c 'SELECT version();' | grep -q PostgreSQL || die "psql SELECT version() failed"

  say "REDISCLI_AUTH=... redis-cli -p $REDIS_PORT ping   (compose: docker-compose exec redis redis-cli ping)"
  out=$(REDISCLI_AUTH=$DEMO_PASSWORD redis-cli -p "$REDIS_PORT" ping)
  echo "$out"
  [ "$out" = PONG ] || die "redis-cli ping answered '$out'"

  say "a whole game through the proxy"
  out=$(python3 "$ROOT/scripts/local-stack/play-game.py" --base "$PROXY_URL") || die "the game through the proxy failed"
  jq -c 'del(.requestIds)' <<<"$out"
  # Which replicas served the game: the proxy's access log names the upstream of each request.
  local replicas
  replicas=$(jq -r '.requestIds[]' <<<"$out" | grep -F -f - "$STATE/logs/proxy.access.log" \
    | jq -r '.upstream_addr' | sort | uniq -c | tr -s ' ' | paste -sd ';' -)
  say "requests of that game per replica: $replicas"
  say "all checks passed"
}

main() {
  local cmd=${1:-}
  case $cmd in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    check) cmd_check ;;
    scale)
      local n=${2:-}
      [[ $n =~ ^[1-7]$ ]] || die "scale needs a number of replicas, 1 to $MAX_REPLICAS"
      cmd_scale "$n" ;;
    stop-backend|start-backend)
      local n=${2:-}
      [[ $n =~ ^[1-7]$ ]] || die "$cmd needs a replica number, 1 to $MAX_REPLICAS"
      if [ "$cmd" = stop-backend ]; then stop_one "backend-$n" 30; say "backend $n stopped"; else start_backend "$n"; fi ;;
    *) die "usage: scripts/local-stack.sh up|down|status|check|scale N|stop-backend N|start-backend N" ;;
  esac
}

main "$@"
