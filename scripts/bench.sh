#!/usr/bin/env bash
# Benchmarks of the game server, with the baselines measured in the same run:
#   - /health/live throughput against a bare nginx `return 200` (the ceiling of this machine and client);
#   - full honest games per second (start, every flip, completion) against the original Node app's 37/s;
#   - open-loop latency (p50/p99 at a fixed rate; no coordinated omission);
#   - resident memory idle and under load.
# Each on SQLite (the `cargo run` default) and on PostgreSQL + Redis. Server and load generator are pinned to
# separate cores (SERVER_CPU, CLIENT_CPU). Results: a table on stdout and target/bench/results.json.
#
#   scripts/bench.sh [seconds per run, default 10]
# Needs: PostgreSQL on 127.0.0.1:5432 (trust, user postgres) and Redis on 127.0.0.1:6379 for the second half
# (set BENCH_SKIP_PG=1 to skip it); installs nginx and wrk from Debian when missing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=.ci/lib.sh
. .ci/lib.sh

SECONDS_PER_RUN=${1:-10}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
OUT=${BENCH_OUT:-$ROOT/target/bench}
ORIGINAL_GAMES_PER_SECOND=37   # the Node original on this kind of machine (reference/original-app.md §12)
CEILING_PORT=3950
SERVER_PORT=3951
mkdir -p "$OUT"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "${pg_db:-}" ]; then
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

ci_apt_install nginx-light wrk
cargo build --release --locked -p humor-server -p humor-loadgen >&2
BIN=$ROOT/target/release/humor-memory-game
LOADGEN=$ROOT/target/release/hmg-loadgen

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# The ceiling: nginx answering 200 from memory, one worker on the server's core.
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server { listen 127.0.0.1:$CEILING_PORT; location / { return 200 "ok"; } }
}
CONF
taskset -c "$SERVER_CPU" nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
ci_wait_http "http://127.0.0.1:$CEILING_PORT/" 10

# wrk: closed loop, 1 thread, 32 connections, on the client core. Prints requests/s.
wrk_rps() {
  taskset -c "$CLIENT_CPU" wrk -t1 -c32 -d"${SECONDS_PER_RUN}s" "$1" | awk '/^Requests\/sec/ {print $2}'
}

loadgen() { taskset -c "$CLIENT_CPU" "$LOADGEN" --duration "$SECONDS_PER_RUN" --json "$@"; }

results=()
run_backend() { # label, then env assignments for the server
  local label=$1; shift
  env "$@" PORT=$SERVER_PORT HOST=127.0.0.1 LOG_LEVEL=warn RATE_LIMIT_MAX_REQUESTS=1000000000 \
    taskset -c "$SERVER_CPU" "$BIN" > "$work/$label.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  ci_wait_http "http://127.0.0.1:$SERVER_PORT/health/ready" 30
  sleep 1
  local idle_rss; idle_rss=$(rss_kb "$pid")
  local ceiling live
  ceiling=$(wrk_rps "http://127.0.0.1:$CEILING_PORT/")
  live=$(wrk_rps "http://127.0.0.1:$SERVER_PORT/health/live")
  # Peak RSS while full games run.
  local peak=0
  ( while kill -0 "$pid" 2>/dev/null; do r=$(rss_kb "$pid"); echo "$r"; sleep 0.2; done ) > "$work/$label.rss" &
  local sampler=$!
  local games; games=$(loadgen --url "http://127.0.0.1:$SERVER_PORT" --mode games --concurrency 32)
  kill "$sampler" 2>/dev/null || true
  peak=$(sort -n "$work/$label.rss" | tail -1)
  # The same honest players with the original's call, POST /api/game/match (both cards per request).
  local games_match; games_match=$(loadgen --url "http://127.0.0.1:$SERVER_PORT" --mode games --protocol match --concurrency 32)
  local gps; gps=$(jq -r '.games_per_second' <<<"$games")
  # Open loop at fixed rates: half the measured /health/live rate, and full games at half the measured rate.
  local live_rate; live_rate=$(awk -v r="$live" 'BEGIN { printf "%d", r / 2 }')
  local game_rate; game_rate=$(awk -v r="$gps" 'BEGIN { printf "%d", (r / 2 < 1 ? 1 : r / 2) }')
  local live_open games_open
  live_open=$(loadgen --url "http://127.0.0.1:$SERVER_PORT" --mode get --path /health/live --concurrency 64 --rate "$live_rate")
  games_open=$(loadgen --url "http://127.0.0.1:$SERVER_PORT" --mode games --concurrency 64 --rate "$game_rate")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  results+=("$(jq -n --arg name "$label" --argjson ceiling "$ceiling" --argjson live "$live" \
      --argjson idle "$idle_rss" --argjson peak "$peak" --argjson games "$games" \
      --argjson live_open "$live_open" --argjson games_open "$games_open" --argjson games_match "$games_match" \
      --argjson original "$ORIGINAL_GAMES_PER_SECOND" '{
    backend: $name,
    nginx_ceiling_rps: $ceiling,
    health_live_rps: $live,
    health_live_vs_ceiling: ($live / $ceiling),
    games_per_second: $games.games_per_second,
    game_requests_per_second: $games.requests_per_second,
    games_vs_original: ($games.games_per_second / $original),
    match_games_per_second: $games_match.games_per_second,
    match_requests_per_second: $games_match.requests_per_second,
    match_requests_per_game: ($games_match.requests / ([$games_match.games, 1] | max)),
    match_games_vs_original: ($games_match.games_per_second / $original),
    requests_per_game: ($games.requests / ([$games.games, 1] | max)),
    game_errors: ($games.errors + $games_match.errors),
    game_latency_ms_closed_loop: $games.latency_ms,
    health_live_open_loop: {rate: $live_open.rate, latency_ms: $live_open.latency_ms, errors: $live_open.errors},
    games_open_loop: {games_per_second_target: $games_open.rate, requests_per_second: $games_open.requests_per_second, latency_ms: $games_open.latency_ms, errors: $games_open.errors},
    rss_idle_mb: ($idle / 1024),
    rss_peak_mb: ($peak / 1024)
  }')")
}

run_backend sqlite SQLITE_PATH="$work/bench.sqlite"
if [ "${BENCH_SKIP_PG:-0}" != 1 ]; then
  ci_ensure_postgres >/dev/null
  ci_ensure_redis >/dev/null
  pg_db="hmg_bench_$RANDOM$RANDOM"
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $pg_db" >/dev/null
  run_backend postgres-redis DATABASE_URL="postgres://postgres@127.0.0.1:5432/$pg_db" \
    REDIS_URL=redis://127.0.0.1:6379 REDIS_KEY_PREFIX="bench_$pg_db:"
  redis-cli -h 127.0.0.1 --scan --pattern "bench_$pg_db:*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null
fi

printf '%s\n' "${results[@]}" | jq -s --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
  --argjson seconds "$SECONDS_PER_RUN" '{cpu: $cpu, seconds_per_run: $seconds, runs: .}' > "$OUT/results.json"

jq -r '
  "| backend | /health/live req/s | nginx ceiling | ratio | games/s with flips (req/s, req/game) | × original | games/s with match (req/game) | × original | p50 / p99 game requests (open loop) | p50 / p99 /health/live (open loop) | RSS idle / peak |",
  "|---|---|---|---|---|---|---|---|---|---|---|",
  (.runs[] | "| \(.backend) | \(.health_live_rps|floor) | \(.nginx_ceiling_rps|floor) | \((.health_live_vs_ceiling*100)|floor)% | \(.games_per_second*10|floor/10) (\(.game_requests_per_second|floor), \(.requests_per_game*10|floor/10)) | \(.games_vs_original*10|floor/10)× | \(.match_games_per_second*10|floor/10) (\(.match_requests_per_game*10|floor/10)) | \(.match_games_vs_original*10|floor/10)× | \(.games_open_loop.latency_ms.p50) / \(.games_open_loop.latency_ms.p99) ms at \(.games_open_loop.games_per_second_target) games/s | \(.health_live_open_loop.latency_ms.p50) / \(.health_live_open_loop.latency_ms.p99) ms at \(.health_live_open_loop.rate) req/s | \(.rss_idle_mb*10|floor/10) / \(.rss_peak_mb*10|floor/10) MB |")
' "$OUT/results.json"
echo "results: $OUT/results.json"
