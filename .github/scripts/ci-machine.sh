#!/usr/bin/env bash
# Makes a GitHub Actions job container (Debian bookworm with Rust, see .github/workflows/ci.yml) into the machine
# .ci/run is written for: Python 3.11 with venv, git, kubectl with kustomize v5, and PostgreSQL (trust
# authentication on 127.0.0.1) and Redis running on their standard ports, started the way that machine starts
# them. Node.js comes from actions/setup-node. Run as root, once per job, before .github/scripts/ci-step.sh.
set -euo pipefail

KUBERNETES_MINOR=v1.32   # kubectl 1.32 carries kustomize v5.5, as on the machine .ci/run was written for

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends ca-certificates curl gnupg git jq python3 python3-venv \
  python3-pip openssl iproute2 postgresql redis-server >/dev/null

# kubectl from the Kubernetes project's signed apt repository.
install -d -m 0755 /etc/apt/keyrings
curl -fsSL "https://pkgs.k8s.io/core:/stable:/$KUBERNETES_MINOR/deb/Release.key" \
  | gpg --dearmor --yes -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg
echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/$KUBERNETES_MINOR/deb/ /" \
  >/etc/apt/sources.list.d/kubernetes.list
apt-get update -qq
apt-get install -y -qq --no-install-recommends kubectl >/dev/null
kubectl version --client

# The workspace belongs to the runner's user, the container runs as root.
git config --global --add safe.directory "${GITHUB_WORKSPACE:-$PWD}"

# PostgreSQL: trust on the loopback addresses and the socket, as the tests expect (TEST_DATABASE_URL has no
# password).
version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf "%f\n" | sort -V | tail -1)
cat >"/etc/postgresql/$version/main/pg_hba.conf" <<'HBA'
local all all trust
host all all 127.0.0.1/32 trust
host all all ::1/128 trust
HBA
pg_ctlcluster --skip-systemctl-redirect "$version" main start
mkdir -p /var/lib/redis /var/log/redis
redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
  --dir /var/lib/redis --logfile /var/log/redis/ci.log
for _ in $(seq 1 30); do
  pg_isready -h 127.0.0.1 -p 5432 -q && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break
  sleep 1
done
pg_isready -h 127.0.0.1 -p 5432
redis-cli -h 127.0.0.1 ping
