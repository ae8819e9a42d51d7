# Helpers shared by .ci/run and the steps. Source it: . "$ROOT/.ci/lib.sh"

# Installs Debian packages that are missing (one apt-get update per run at most).
ci_apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ ! -f /tmp/.ci-apt-updated ]; then
    apt-get update -qq && touch /tmp/.ci-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ci_ensure_postgres() {
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
  pg_isready -h 127.0.0.1 -p 5432
}

ci_ensure_redis() {
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
    for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
  fi
  redis-cli -h 127.0.0.1 -p 6379 ping
}

# Waits until an HTTP URL answers 2xx (default 60 s).
ci_wait_http() {
  local url=$1 timeout=${2:-60}
  for _ in $(seq 1 "$((timeout * 5))"); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "timed out waiting for $url" >&2
  return 1
}

# The one Python venv of the repository, for every Python step and reliability/run.sh: the `test` dependency
# group of tests/pyproject.toml, at $ROOT/target/py-venv (PY_VENV overrides). Idempotent and quiet: pip runs
# only when the venv is new or tests/pyproject.toml changed since the last install. Sets and exports PY_VENV.
ci_python_venv() {
  PY_VENV=${PY_VENV:-$ROOT/target/py-venv}
  export PY_VENV
  local project=$ROOT/tests/pyproject.toml stamp=$PY_VENV/.installed-pyproject.toml
  [ -x "$PY_VENV/bin/python" ] || python3 -m venv "$PY_VENV" || return 1
  cmp -s "$project" "$stamp" && return 0
  # Dependency groups need pip 25.1 or newer; Debian's venv brings an older one.
  "$PY_VENV/bin/python" -m pip install --quiet --disable-pip-version-check 'pip==25.3' || return 1
  "$PY_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --group "$project:test" || return 1
  cp "$project" "$stamp"
}

# A TCP port that is free on 127.0.0.1 right now, chosen by the OS (bind to port 0).
ci_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# The release binary every later step uses (built by the server step).
HMG_BIN="${HMG_BIN:-$ROOT/target/release/humor-memory-game}"
