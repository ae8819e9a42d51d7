#!/usr/bin/env bash
# The guide's final verification ("Comprehensive System Test") with this repository's names: one PASS or
# FAIL line per check, a summary, and a non-zero exit if anything failed.
#
#   scripts/production-test.sh [global]
#
# Settings (environment variables, defaults for the guide's local k3d setup):
#   NAMESPACE=humor-game            APP_URL=https://gameapp.local:8443
#   PROMETHEUS_URL=http://localhost:9090   GRAFANA_URL=http://localhost:3000   (port-forwards, Milestone 4)
#   ARGOCD_NAMESPACE=argocd         ARGOCD_APPS="humor-game-dev"   (space-separated Application names)
#   GLOBAL_URL=https://game.example.com   (checked only with the `global` argument, Track C)
#   TLS_INSECURE=1 skips certificate checks for APP_URL (default: 1 for a *.local host, else 0);
#   GLOBAL_URL is always checked with full certificate verification.
#   HTTP_TIMEOUT=10 seconds per request. Needs kubectl, curl and jq.
set -euo pipefail
# Every check runs inside `if`, so one failure is reported and the next check still runs.

NAMESPACE=${NAMESPACE:-humor-game}
APP_URL=${APP_URL:-https://gameapp.local:8443}
APP_URL=${APP_URL%/}
PROMETHEUS_URL=${PROMETHEUS_URL:-http://localhost:9090}
GRAFANA_URL=${GRAFANA_URL:-http://localhost:3000}
ARGOCD_NAMESPACE=${ARGOCD_NAMESPACE:-argocd}
ARGOCD_APPS=${ARGOCD_APPS:-humor-game-dev}
GLOBAL_URL=${GLOBAL_URL:-https://game.example.com}
GLOBAL_URL=${GLOBAL_URL%/}
HTTP_TIMEOUT=${HTTP_TIMEOUT:-10}
DB_USER=${DB_USER:-gameuser}
DB_NAME=${DB_NAME:-humor_memory_game}

mode=${1:-local}
case $mode in
  local|global) ;;
  -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "production-test: unknown argument '$mode' (expected: global, or nothing)" >&2; exit 2 ;;
esac

app_host=${APP_URL#*://}
app_host=${app_host%%[:/]*}
if [ -z "${TLS_INSECURE:-}" ]; then
  case $app_host in *.local) TLS_INSECURE=1 ;; *) TLS_INSECURE=0 ;; esac
fi

for tool in kubectl curl jq; do
  command -v "$tool" >/dev/null || { echo "production-test: $tool not found on PATH" >&2; exit 2; }
done

passed=0
failed=0
pass() { passed=$((passed + 1)); printf 'PASS  %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL  %s\n' "$1"; [ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/      /'; }
section() { printf '\n== %s\n' "$1"; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
body=$tmp/body

# GET $1 into $body; prints the HTTP status (000 when there was no answer). $2=insecure skips TLS checks.
http_get() {
  local opts=(-sS --max-time "$HTTP_TIMEOUT" -o "$body" -w '%{http_code}')
  [ "${2:-}" = insecure ] && opts+=(-k)
  : >"$body"
  curl "${opts[@]}" "$1" 2>"$tmp/curl.err" || true
}
app_get() { if [ "$TLS_INSECURE" = 1 ]; then http_get "$1" insecure; else http_get "$1"; fi; }

section "1. Cluster health"
if nodes=$(kubectl get nodes --no-headers 2>&1); then
  total=$(printf '%s\n' "$nodes" | grep -c . || true)
  not_ready=$(printf '%s\n' "$nodes" | awk '$2 != "Ready"')
  if [ "$total" -gt 0 ] && [ -z "$not_ready" ]; then pass "all $total nodes Ready"
  else fail "nodes not Ready" "$not_ready"; fi
else
  fail "kubectl get nodes" "$nodes"
fi
if pods=$(kubectl get pods --all-namespaces --no-headers 2>&1); then
  # Unhealthy: neither Running nor Completed, or Running with a container not ready (e.g. 1/2).
  bad=$(printf '%s\n' "$pods" | awk 'NF >= 4 {
    split($3, r, "/")
    if (($4 != "Running" && $4 != "Completed" && $4 != "Succeeded") || ($4 == "Running" && r[1] != r[2])) print
  }')
  if [ -z "$bad" ]; then pass "every pod Running (and ready) or Completed"
  else fail "unhealthy pods" "$bad"; fi
else
  fail "kubectl get pods --all-namespaces" "$pods"
fi

section "2. Application health ($NAMESPACE, $APP_URL)"
for d in postgres redis backend frontend; do
  if st=$(kubectl get deployment "$d" -n "$NAMESPACE" -o jsonpath='{.status.readyReplicas}/{.status.replicas}' 2>&1); then
    ready=${st%%/*}; want=${st#*/}
    if [ -n "$ready" ] && [ "$ready" -gt 0 ] && [ "$ready" = "$want" ]; then pass "deployment/$d ready ($st)"
    else fail "deployment/$d not ready (ready/replicas: ${st:-none})"; fi
  else
    fail "deployment/$d" "$st"
  fi
done
code=$(app_get "$APP_URL/api/health")
if [ "$code" = 200 ] && jq -e '.status == "healthy" and .services.database == "connected" and .services.redis == "connected"' "$body" >/dev/null 2>&1; then
  pass "GET /api/health: 200, healthy, database and redis connected"
else
  fail "GET /api/health (HTTP $code)" "$(head -c 400 "$body"; cat "$tmp/curl.err")"
fi
code=$(app_get "$APP_URL/")
if [ "$code" = 200 ] && grep -qi '<html' "$body"; then pass "GET / serves the game page"
else fail "GET / (HTTP $code)" "$(head -c 200 "$body"; cat "$tmp/curl.err")"; fi
# The ingress must not publish the metrics endpoint.
code=$(app_get "$APP_URL/metrics")
if [ "$code" != 000 ] && ! grep -q 'http_requests_total' "$body"; then pass "/metrics is not public (HTTP $code without metrics)"
else fail "/metrics is reachable from outside or the app did not answer (HTTP $code)"; fi

section "3. Database and cache"
if out=$(kubectl exec deployment/postgres -n "$NAMESPACE" -- psql -U "$DB_USER" -d "$DB_NAME" -tAc 'SELECT 1;' 2>&1) && [ "$(printf '%s' "$out" | tr -d '[:space:]')" = 1 ]; then
  pass "psql SELECT 1 as $DB_USER on $DB_NAME"
else
  fail "database query" "$out"
fi
if out=$(kubectl exec deployment/redis -n "$NAMESPACE" -- sh -c 'redis-cli -h 127.0.0.1 ping' 2>&1) && [ "$(printf '%s' "$out" | tr -d '[:space:]')" = PONG ]; then
  pass "redis PING (authenticated)"
else
  fail "redis PING" "$out"
fi

section "4. Monitoring ($PROMETHEUS_URL, $GRAFANA_URL)"
code=$(http_get "$PROMETHEUS_URL/api/v1/targets?state=active")
if [ "$code" = 200 ] && jq -e '.status == "success"' "$body" >/dev/null 2>&1; then
  pass "Prometheus targets API answers"
  up=$(jq -r '[.data.activeTargets[] | select((.scrapeUrl // "") | test(":3001/metrics$")) | select(.health == "up")] | length' "$body" || echo 0)
  if [ "${up:-0}" -gt 0 ]; then pass "Prometheus scrapes $up backend target(s) on :3001/metrics, up"
  else fail "no backend target (:3001/metrics) is up in Prometheus"; fi
else
  fail "Prometheus unreachable or not Prometheus (HTTP $code)" "$(head -c 200 "$body"; cat "$tmp/curl.err")"
fi
# Grafana's own health document, not just any 200 on the port.
code=$(http_get "$GRAFANA_URL/api/health")
if [ "$code" = 200 ] && jq -e '.database == "ok" and (.version | type == "string")' "$body" >/dev/null 2>&1; then
  pass "Grafana healthy (database ok, version $(jq -r .version "$body"))"
else
  fail "Grafana unhealthy or not Grafana (HTTP $code)" "$(head -c 200 "$body"; cat "$tmp/curl.err")"
fi

section "5. GitOps ($ARGOCD_NAMESPACE)"
for app in $ARGOCD_APPS; do
  if st=$(kubectl get applications.argoproj.io "$app" -n "$ARGOCD_NAMESPACE" -o jsonpath='{.status.sync.status}/{.status.health.status}' 2>&1); then
    if [ "$st" = Synced/Healthy ]; then pass "Argo CD application $app Synced and Healthy"
    else fail "Argo CD application $app is ${st:-without status} (want Synced/Healthy)"; fi
  else
    fail "Argo CD application $app" "$st"
  fi
done

if [ "$mode" = global ]; then
  section "6. Global access ($GLOBAL_URL)"
  global_host=${GLOBAL_URL#*://}
  global_host=${global_host%%[:/]*}
  if addr=$(getent hosts "$global_host" 2>&1) && [ -n "$addr" ]; then pass "DNS: $global_host resolves (${addr%% *})"
  else fail "DNS: $global_host does not resolve"; fi
  code=$(http_get "$GLOBAL_URL/api/health")
  if [ "$code" = 200 ] && jq -e '.status == "healthy"' "$body" >/dev/null 2>&1; then
    pass "GET $GLOBAL_URL/api/health over verified TLS: healthy"
  else
    fail "global /api/health (HTTP $code; a certificate error shows as 000)" "$(head -c 200 "$body"; cat "$tmp/curl.err")"
  fi
fi

printf '\nproduction-test: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
