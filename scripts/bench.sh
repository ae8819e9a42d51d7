#!/usr/bin/env bash
# Benchmarks of the game server, the current checkout against a previous release, in the same run:
#   - /health/live throughput against a bare nginx `return 200` (the ceiling of this machine and client);
#   - full honest games per second (start, every flip, completion) against the original Node app's 37/s;
#   - CPU per whole game and per request of the server, PostgreSQL and Redis, read from /proc over the measured
#     seconds of closed-loop `match` runs that alternate between the two releases (BENCH_ROUNDS rounds);
#   - open-loop latency (p50/p99 at a fixed rate; no coordinated omission);
#   - resident memory idle and under load.
# Each on SQLite (the `cargo run` default) and on PostgreSQL + Redis. Each release gets its own PostgreSQL cluster
# and redis-server, started for the run on their own ports, so what they spend is that release's alone. The
# servers and the load generator are pinned to separate cores (SERVER_CPU, CLIENT_CPU). Results: markdown tables
# on stdout (for docs/benchmarks.md) and target/bench/results.json.
#
#   scripts/bench.sh [seconds per run, default 10]
#
# Environment:
#   BENCH_PLAYERS=32         virtual players of the closed-loop runs
#   BENCH_ROUNDS=3           alternating rounds (previous, current / current, previous, ...) of the CPU runs
#   BENCH_BASELINE_REV=REV   the release to compare with (a git revision); default: the previous release of the
#                            reliability suite (the parent of the commit that added the newest migration)
#   BENCH_SKIP_BASELINE=1    measure the current checkout only (no ratios)
#   BENCH_SKIP_PG=1          SQLite only
#   BENCH_PROFILE=1          then profile the current server on PostgreSQL + Redis: perf record (cpu-clock, -g) and
#                            Redis INFO commandstats, for each protocol (target/bench/profile-*.txt)
# Needs PostgreSQL's server binaries (initdb, postgres) and redis-server; installs nginx, wrk and perf from
# Debian when missing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
case "${1:-}" in
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac
# shellcheck source=.ci/lib.sh
. .ci/lib.sh

SECONDS_PER_RUN=${1:-10}
PLAYERS=${BENCH_PLAYERS:-32}
ROUNDS=${BENCH_ROUNDS:-3}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
OUT=${BENCH_OUT:-$ROOT/target/bench}
ORIGINAL_GAMES_PER_SECOND=37   # the Node original on this kind of machine (reference/original-app.md §12)
CEILING_PORT=3950
CLOCK_TICKS=$(getconf CLK_TCK)
mkdir -p "$OUT"
work=$(mktemp -d)
pids=()
declare -A SERVER_PORT=([previous]=3951 [current]=3961) REDIS_PORT=([previous]=3952 [current]=3962)
declare -A PG_PORT=([previous]=3953 [current]=3963)
declare -A SERVER_PID=() PG_PID=() PG_DIR=() REDIS_PID=() IDLE_RSS=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work" "${PG_DIR[@]}"
}
trap cleanup EXIT
say() { echo "bench: $*" >&2; }

tools=(nginx-light wrk)
[ "${BENCH_PROFILE:-0}" = 1 ] && tools+=(linux-perf)
ci_apt_install "${tools[@]}"
cargo build --release --locked -p humor-server -p humor-loadgen >&2
BIN=$ROOT/target/release/humor-memory-game
LOADGEN=$ROOT/target/release/hmg-loadgen
# The commit measured; "+changes" when the server's sources differ from it.
commit=$(git rev-parse --short=10 HEAD)
[ -z "$(git status --porcelain --untracked-files=no -- backend/server backend/store backend/game frontend \
  Cargo.toml Cargo.lock)" ] || commit="$commit+changes"

declare -A RELEASE_BIN=([current]=$BIN) RELEASE_REV=([current]=$commit)
releases=()
if [ "${BENCH_SKIP_BASELINE:-0}" != 1 ]; then
  BASE_BIN=$(HMG_BIN=$BIN reliability/build-previous.sh ${BENCH_BASELINE_REV:+"$BENCH_BASELINE_REV"})
  if [ "$BASE_BIN" = "$BIN" ]; then
    say "no previous release to compare with: measuring the current checkout only"
  else
    RELEASE_BIN[previous]=$BASE_BIN
    RELEASE_REV[previous]=${BASE_BIN##*-}
    releases+=(previous)
  fi
fi
releases+=(current)

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# The ceiling: nginx answering 200 from memory, one worker on the servers' core.
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

# A PostgreSQL cluster of the release's own (initdb defaults, no TLS), run as the postgres user when root.
PG_BINDIR=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_postgres=()
[ "$(id -u)" -ne 0 ] || as_postgres=(setpriv --reuid=postgres --regid=postgres --init-groups --)
start_postgres() { # release
  local release=$1 port=${PG_PORT[$1]} dir
  [ -x "$PG_BINDIR/initdb" ] || { say "no PostgreSQL server binaries under /usr/lib/postgresql"; exit 1; }
  dir=$(mktemp -d /tmp/hmg-bench-pg-XXXXXX)
  PG_DIR[$release]=$dir
  [ "$(id -u)" -ne 0 ] || chown postgres: "$dir"
  "${as_postgres[@]}" "$PG_BINDIR/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
  "${as_postgres[@]}" "$PG_BINDIR/postgres" -D "$dir/data" -p "$port" -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories="$dir" > "$dir/postgres.log" 2>&1 &
  PG_PID[$release]=$!   # the postmaster itself: setpriv executes it in place
  pids+=("${PG_PID[$release]}")
  for _ in $(seq 1 150); do pg_isready -q -h 127.0.0.1 -p "$port" && break; sleep 0.2; done
  pg_isready -q -h 127.0.0.1 -p "$port" || { cat "$dir/postgres.log" >&2; exit 1; }
  psql -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE hmg_bench" >/dev/null
}
start_redis() { # release
  local release=$1 port=${REDIS_PORT[$1]}
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
    --logfile "$work/redis-$release.log" &
  REDIS_PID[$release]=$!
  pids+=("${REDIS_PID[$release]}")
  for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -p "$port" ping >/dev/null
}

# Starts a release's server (with its own PostgreSQL and Redis for postgres-redis) and notes its idle RSS.
start_stack() { # backend, release
  local backend=$1 release=$2 env=()
  if [ "$backend" = postgres-redis ]; then
    start_postgres "$release"
    start_redis "$release"
    env=(DATABASE_URL="postgres://postgres@127.0.0.1:${PG_PORT[$release]}/hmg_bench"
      REDIS_URL="redis://127.0.0.1:${REDIS_PORT[$release]}")
  else
    env=(SQLITE_PATH="$work/bench-$release.sqlite")
  fi
  env "${env[@]}" PORT="${SERVER_PORT[$release]}" HOST=127.0.0.1 LOG_LEVEL=warn RATE_LIMIT_MAX_REQUESTS=1000000000 \
    taskset -c "$SERVER_CPU" "${RELEASE_BIN[$release]}" > "$work/$backend-$release.log" 2>&1 &
  SERVER_PID[$release]=$!
  pids+=("${SERVER_PID[$release]}")
  ci_wait_http "http://127.0.0.1:${SERVER_PORT[$release]}/health/ready" 30
  sleep 1
  IDLE_RSS[$release]=$(rss_kb "${SERVER_PID[$release]}")
}
stop_stack() { # release
  local release=$1 p
  for p in "${SERVER_PID[$release]}" "${REDIS_PID[$release]:-}"; do
    [ -z "$p" ] || { kill "$p"; wait "$p" 2>/dev/null || true; }
  done
  if [ -n "${PG_PID[$release]:-}" ]; then
    kill -INT "${PG_PID[$release]}"; wait "${PG_PID[$release]}" 2>/dev/null || true
    rm -rf "${PG_DIR[$release]}"
  fi
  unset "SERVER_PID[$release]" "REDIS_PID[$release]" "PG_PID[$release]" "PG_DIR[$release]"
}

# Redis INFO commandstats as {command: {calls, usec}}.
redis_commandstats() { # port
  redis-cli -p "$1" info commandstats | tr -d '\r' \
    | awk -F'[:,=]' '/^cmdstat_/ { sub(/^cmdstat_/, "", $1); print $1, $3, $5 }' \
    | jq -Rn '[inputs | split(" ") | {key: .[0], value: {calls: (.[1] | tonumber), usec: (.[2] | tonumber)}}]
              | from_entries'
}

# One closed-loop run of whole games against a release, with the CPU of its server, PostgreSQL and Redis (and
# Redis's command counts over the run).
closed_loop_games() { # release, protocol
  local release=$1 protocol=$2 watch=(--cpu "server=${SERVER_PID[$1]}") stats=null run
  [ -z "${PG_PID[$release]:-}" ] || watch+=(--cpu "postgres=${PG_PID[$release]}")
  [ -z "${REDIS_PID[$release]:-}" ] || watch+=(--cpu "redis=${REDIS_PID[$release]}")
  [ -z "${REDIS_PID[$release]:-}" ] || redis-cli -p "${REDIS_PORT[$release]}" config resetstat >/dev/null
  run=$(loadgen --url "http://127.0.0.1:${SERVER_PORT[$release]}" --mode games --protocol "$protocol" \
    --concurrency "$PLAYERS" --clock-ticks "$CLOCK_TICKS" "${watch[@]}")
  [ -z "${REDIS_PID[$release]:-}" ] || stats=$(redis_commandstats "${REDIS_PORT[$release]}")
  jq -c --argjson redis "$stats" '. + {redis_commandstats: $redis}' <<<"$run"
}

# Throughput, latency and memory of one release (its server already started): a JSON object.
measure() { # backend, release
  local backend=$1 release=$2 port=${SERVER_PORT[$2]} pid=${SERVER_PID[$2]}
  local ceiling live games peak live_rate game_rate live_open games_open
  ceiling=$(wrk_rps "http://127.0.0.1:$CEILING_PORT/")
  live=$(wrk_rps "http://127.0.0.1:$port/health/live")
  # Peak RSS while full games run, one card per request.
  ( while kill -0 "$pid" 2>/dev/null; do rss_kb "$pid"; sleep 0.2; done ) > "$work/$backend-$release.rss" &
  local sampler=$!
  games=$(closed_loop_games "$release" flip)
  kill "$sampler" 2>/dev/null || true
  peak=$(sort -n "$work/$backend-$release.rss" | tail -1)
  # Open loop at fixed rates: half the measured /health/live rate, and full games at half the measured rate.
  live_rate=$(awk -v r="$live" 'BEGIN { printf "%d", r / 2 }')
  game_rate=$(jq -r '.games_per_second / 2 | if . < 1 then 1 else floor end' <<<"$games")
  live_open=$(loadgen --url "http://127.0.0.1:$port" --mode get --path /health/live --concurrency 64 --rate "$live_rate")
  games_open=$(loadgen --url "http://127.0.0.1:$port" --mode games --concurrency 64 --rate "$game_rate")
  jq -n --argjson ceiling "$ceiling" --argjson live "$live" --argjson idle "${IDLE_RSS[$release]}" \
    --argjson peak "$peak" --argjson games "$games" --argjson live_open "$live_open" --argjson games_open "$games_open" \
    '{ceiling: $ceiling, live: $live, idle: $idle, peak: $peak, games: $games, live_open: $live_open,
      games_open: $games_open}'
}

# perf's flat profile (self time) of the server, grouped: what the time goes to.
profile_groups() { # perf.data
  perf report -i "$1" --no-children --sort symbol --stdio -g none --percent-limit 0 2>/dev/null \
    | awk '$1 ~ /%$/ && $2 ~ /^\[/ {
        pct = $1 + 0; kind = $2; sym = $0; sub(/^[^\]]*\] /, "", sym)
        if (kind == "[k]") g = "kernel: syscalls, network, scheduler"
        else if (sym ~ /(^|[^a-z])(malloc|free|calloc|realloc|cfree)([^a-z]|$)|_int_malloc|_int_free|_int_realloc|malloc_consolidate|tcache|unlink_chunk|__rust_(alloc|dealloc|realloc)|__rdl_|alloc::raw_vec|RawVec/) g = "malloc/free"
        else if (sym ~ /mem(move|cpy|set|cmp|chr)|str(len|cmp)/) g = "memmove/memcpy/memset"
        else if (sym ~ /serde|ryu|itoa/) g = "JSON (serde)"
        else if (sym ~ /tower|tracing|metrics|sketches|quanta|request_id/) g = "middleware: tower, tracing, metrics"
        else if (sym ~ /tokio|mio::|parking_lot|crossbeam|futures_util|futures_channel/) g = "tokio and futures"
        else if (sym ~ /hyper|httparse|http::|axum|matchit|h2::/) g = "HTTP: hyper, axum"
        else if (sym ~ /sqlx|sqlite|postgres/) g = "database clients (sqlx)"
        else if (sym ~ /redis|combine::/) g = "Redis client"
        else if (sym ~ /sha2|hmac|digest|sha256|rand|chacha|uuid/) g = "hashing, signatures, random"
        else if (sym ~ /humor_|hmg/) g = "our crates (game, store, server)"
        else if (sym ~ /core::|std::|alloc::|hashbrown|smallvec|bytes::/) g = "std, core, collections"
        else g = "other"
        total[g] += pct
      }
      END { for (g in total) printf "%.2f\t%s\n", total[g], g }' | sort -rn \
    | jq -Rn '[inputs | split("\t") | {group: .[1], percent: (.[0] | tonumber)}]'
}

# The current server on PostgreSQL + Redis under each protocol, with perf recording it: a JSON array.
profile_server() {
  local protocol run perf_pid
  for protocol in flip match; do
    perf record -e cpu-clock -F 999 -g -p "${SERVER_PID[current]}" -o "$OUT/perf-$protocol.data" \
      -- sleep "$((SECONDS_PER_RUN + 1))" 2>"$work/perf.log" &
    perf_pid=$!
    run=$(closed_loop_games current "$protocol")
    wait "$perf_pid"
    perf report -i "$OUT/perf-$protocol.data" --no-children --sort dso,symbol --stdio -g none --percent-limit 0.3 \
      2>/dev/null > "$OUT/profile-$protocol.txt"
    jq -c --arg protocol "$protocol" --argjson groups "$(profile_groups "$OUT/perf-$protocol.data")" \
      '{protocol: $protocol, games_per_second, requests_sent, requests, games, redis_commandstats, perf_groups: $groups}' \
      <<<"$run"
  done | jq -s .
}

# Loadgen runs of one release summed: games, requests, CPU and Redis commands added up, latency the median run's.
# shellcheck disable=SC2016 # jq's variables, not the shell's
COMBINE_RUNS='def median(f): map(f) | sort | .[length / 2 | floor];
  (map(.games) | add) as $games | (map(.requests) | add) as $requests | (map(.seconds) | add) as $seconds |
  (map(.cpu | to_entries[]) | group_by(.key) | map({key: .[0].key, value: (map(.value.cpu_ms) | add)}) | from_entries)
    as $cpu_ms |
  {rounds: length, seconds: $seconds, games: $games, requests: $requests, requests_sent: (map(.requests_sent) | add),
   errors: (map(.errors) | add), games_per_second: ($games / $seconds), requests_per_second: ($requests / $seconds),
   latency_ms: {p50: median(.latency_ms.p50), p99: median(.latency_ms.p99)},
   cpu: ($cpu_ms | with_entries(.value as $ms | .value = {cpu_ms: $ms, cores: ($ms / 1000 / $seconds),
     cpu_ms_per_game: (if $games > 0 then $ms / $games else null end),
     cpu_us_per_request: (if $requests > 0 then $ms * 1000 / $requests else null end)})),
   redis_commandstats: (if .[0].redis_commandstats == null then null else
     (map(.redis_commandstats | to_entries[]) | group_by(.key)
      | map({key: .[0].key, value: {calls: (map(.value.calls) | add), usec: (map(.value.usec) | add)}}) | from_entries)
     end)}'

results=()
run_backend() { # backend
  local backend=$1 release i order
  for release in "${releases[@]}"; do
    say "$backend, $release release (${RELEASE_REV[$release]}): starting"
    start_stack "$backend" "$release"
  done
  for release in "${releases[@]}"; do
    say "$backend, $release release: throughput, latency, memory"
    measure "$backend" "$release" > "$work/$backend-$release.measure.json"
    : > "$work/$backend-$release.rounds.jsonl"
  done
  # CPU per game: `match` runs alternating between the releases, so a machine that slows down weighs on both.
  for i in $(seq 1 "$ROUNDS"); do
    order=("${releases[@]}")
    if [ $((i % 2)) -eq 0 ] && [ ${#releases[@]} -eq 2 ]; then order=(current previous); fi
    for release in "${order[@]}"; do
      say "$backend, round $i/$ROUNDS: $release"
      closed_loop_games "$release" match >> "$work/$backend-$release.rounds.jsonl"
    done
  done
  echo '[]' > "$work/profile.json"
  if [ "${BENCH_PROFILE:-0}" = 1 ] && [ "$backend" = postgres-redis ]; then
    say "$backend, current release: profile"
    profile_server > "$work/profile.json"
  fi
  for release in "${releases[@]}"; do
    stop_stack "$release"
    results+=("$(jq -s "$COMBINE_RUNS" "$work/$backend-$release.rounds.jsonl" \
      | jq -n --arg backend "$backend" --arg release "$release" --arg revision "${RELEASE_REV[$release]}" \
        --slurpfile m "$work/$backend-$release.measure.json" --slurpfile match /dev/stdin \
        --slurpfile profile "$work/profile.json" --argjson original "$ORIGINAL_GAMES_PER_SECOND" '
      $m[0] as $m | $match[0] as $match | $m.games as $games |
      def per_request($run): $run.redis_commandstats // {} | with_entries(.value |= {
        calls_per_request: (.calls / ([$run.requests_sent, 1] | max)), usec_per_call: (.usec / ([.calls, 1] | max))});
      {
      backend: $backend,
      release: $release,
      revision: $revision,
      nginx_ceiling_rps: $m.ceiling,
      health_live_rps: $m.live,
      health_live_vs_ceiling: ($m.live / $m.ceiling),
      games_per_second: $games.games_per_second,
      game_requests_per_second: $games.requests_per_second,
      games_vs_original: ($games.games_per_second / $original),
      requests_per_game: ($games.requests / ([$games.games, 1] | max)),
      game_latency_ms_closed_loop: $games.latency_ms,
      cpu_flip: $games.cpu,
      redis_commands_flip: per_request($games),
      match_rounds: $match.rounds,
      match_games_per_second: $match.games_per_second,
      match_requests_per_second: $match.requests_per_second,
      match_requests_per_game: ($match.requests / ([$match.games, 1] | max)),
      match_games_vs_original: ($match.games_per_second / $original),
      match_latency_ms_closed_loop: $match.latency_ms,
      cpu_match: $match.cpu,
      redis_commands_match: per_request($match),
      game_errors: ($games.errors + $match.errors),
      health_live_open_loop: {rate: $m.live_open.rate, latency_ms: $m.live_open.latency_ms, errors: $m.live_open.errors},
      games_open_loop: {games_per_second_target: $m.games_open.rate,
        requests_per_second: $m.games_open.requests_per_second, latency_ms: $m.games_open.latency_ms,
        errors: $m.games_open.errors},
      rss_idle_mb: ($m.idle / 1024),
      rss_peak_mb: ($m.peak / 1024),
      profile: (if $release == "current" then $profile[0] else [] end)
    }')")
  done
}

run_backend sqlite
[ "${BENCH_SKIP_PG:-0}" = 1 ] || run_backend postgres-redis

printf '%s\n' "${results[@]}" | jq -s --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
  --arg commit "$commit" --arg date "$(date -u '+%Y-%m-%d %H:%M UTC')" --argjson players "$PLAYERS" \
  --argjson seconds "$SECONDS_PER_RUN" '{
    commit: $commit, date: $date, cpu: $cpu, seconds_per_run: $seconds, players: $players,
    cpu_accounting: "utime+stime from /proc/<pid>/stat over the measured seconds, children included: the server process, the whole PostgreSQL cluster started for the run (postmaster and every child), the redis-server started for the run",
    runs: .}' > "$OUT/results.json"

# Tables for docs/benchmarks.md: each current figure with its ratio to the previous release of the same run.
jq -r '
  def r($d): . * pow(10; $d) | round / pow(10; $d);
  def num($d): if . == null then "—" else r($d) | tostring end;
  def ratio($now; $before): if $before == null or $now == null or $before == 0 then "" else " (\($now / $before | r(2))×)" end;
  def cell($run; $base; f; $d): ($run | f | num($d)) + (if $run.release == "current" and $base != null then ratio($run | f; $base | f) else "" end);
  def base($run): first(.runs[] | select(.backend == $run.backend and .release == "previous")) // null;
  def total: [.cpu_match.server.cpu_ms_per_game, .cpu_match.postgres.cpu_ms_per_game, .cpu_match.redis.cpu_ms_per_game] | map(select(. != null)) | add;
  def row: (if .backend == "sqlite" then "SQLite" else "PostgreSQL + Redis" end) + ", " + .release + " (" + .revision + ")";
  . as $all |
  "`scripts/bench.sh \(.seconds_per_run)` on \(.date), commit \(.commit), \(.players) players; (×) = current / previous release, same run:",
  "",
  "| backend, release | games/s with `match` | p50 / p99 ms | server ms CPU/game | PostgreSQL ms/game | Redis ms/game | total ms/game | server µs CPU/request | PostgreSQL µs/req | Redis µs/req |",
  "|---|---|---|---|---|---|---|---|---|---|",
  (.runs[] | . as $run | ($all | base($run)) as $b |
    "| \(row) | \(cell($run; $b; .match_games_per_second; 1)) | \(.match_latency_ms_closed_loop.p50 | num(2)) / \(.match_latency_ms_closed_loop.p99 | num(2)) | \(cell($run; $b; .cpu_match.server.cpu_ms_per_game; 2)) | \(cell($run; $b; .cpu_match.postgres.cpu_ms_per_game; 2)) | \(cell($run; $b; .cpu_match.redis.cpu_ms_per_game; 2)) | \(cell($run; $b; total; 2)) | \(cell($run; $b; .cpu_match.server.cpu_us_per_request; 0)) | \(cell($run; $b; .cpu_match.postgres.cpu_us_per_request; 0)) | \(cell($run; $b; .cpu_match.redis.cpu_us_per_request; 0)) |"),
  "",
  "| backend, release | `/health/live` req/s | nginx ceiling | ratio | games/s one card per request (req/s) | × original | server ms CPU/game | games/s with `match` | × original | game requests at half the max rate, open loop: p50 / p99 | RSS idle / peak |",
  "|---|---|---|---|---|---|---|---|---|---|---|",
  (.runs[] | . as $run | ($all | base($run)) as $b |
    "| \(row) | \(cell($run; $b; .health_live_rps; 0)) | \(.nginx_ceiling_rps | num(0)) | \(.health_live_vs_ceiling * 100 | floor)% | \(cell($run; $b; .games_per_second; 1)) (\(.game_requests_per_second | floor)) | \(.games_vs_original | num(1))× | \(cell($run; $b; .cpu_flip.server.cpu_ms_per_game; 2)) | \(cell($run; $b; .match_games_per_second; 1)) | \(.match_games_vs_original | num(1))× | \(.games_open_loop.latency_ms.p50) / \(.games_open_loop.latency_ms.p99) ms at \(.games_open_loop.games_per_second_target) games/s | \(.rss_idle_mb | num(1)) / \(.rss_peak_mb | num(1)) MB |"),
  "",
  "Errors: \([.runs[] | .game_errors] | add) game requests failed."
' "$OUT/results.json"
if [ "${BENCH_PROFILE:-0}" = 1 ]; then
  jq -r 'def r($d): . * pow(10; $d) | round / pow(10; $d);
    .runs[] | (.profile // [])[] | .requests_sent as $sent |
    "", "Profile, PostgreSQL + Redis, \(.protocol) (\(.games_per_second | r(1)) games/s under perf): server self time",
    (.perf_groups[] | "  \(.percent | r(1))% \(.group)"),
    "Redis commands per game request (\($sent) requests sent):",
    (.redis_commandstats | to_entries | sort_by(-.value.calls)[] |
      "  \(.key): \(.value.calls / $sent | r(2)) per request, \(.value.usec / ([.value.calls, 1] | max) | r(2)) µs per call")
  ' "$OUT/results.json"
fi
echo "results: $OUT/results.json"
