#!/usr/bin/env bash
# Installs the tools the e2e-cluster workflow drives the guide with, at pinned versions, each checked against
# its SHA-256 before it is put on PATH (GitHub's runner already has Docker):
#   k3d and the argocd CLI (the versions scripts/cluster.sh pins; tests/k8s checks they agree), mkcert (the
#   guide's 3.2), and kubectl from the Kubernetes project's signed apt repository, at an exact version (apt
#   checks each package against the signed index's SHA-256).
#
#   .github/scripts/e2e-tools.sh DIR     installs into DIR and, in GitHub Actions, adds DIR to $GITHUB_PATH
set -euo pipefail

K3D_VERSION=v5.9.0
K3D_SHA256=06d8f25bc3a971c4eb29e0ff08429b180402db0f4dec838c9eac427e296800a0
ARGOCD_VERSION=v3.4.5
ARGOCD_SHA256=23303f05a58c1e041324d5645b0f9d6ea338b16bbf32f4a24508f388fcf9f9c0
MKCERT_VERSION=v1.4.4
MKCERT_SHA256=6d31c65b03972c6dc4a14ab429f2928300518b26503f58723e532d1b0a3bbb52
KUBECTL_MINOR=v1.32
KUBECTL_VERSION=1.32.4

dir=${1:?usage: e2e-tools.sh DIR}
[ "$(uname -sm)" = "Linux x86_64" ] || { echo "e2e-tools: the pinned checksums are for Linux x86_64" >&2; exit 1; }
mkdir -p "$dir"
sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Downloads $2 to $dir/$1 and keeps it only if its SHA-256 is $3.
fetch_verified() {
  local name=$1 url=$2 sha256=$3 partial
  partial=$(mktemp "$dir/.$name.XXXXXX")
  curl -fsSL --retry 3 -o "$partial" "$url"
  if ! echo "$sha256  $partial" | sha256sum --check --quiet -; then
    rm -f "$partial"
    echo "e2e-tools: $url does not have the pinned SHA-256 $sha256" >&2
    exit 1
  fi
  chmod 0755 "$partial"
  mv "$partial" "$dir/$name"
}

fetch_verified k3d "https://github.com/k3d-io/k3d/releases/download/$K3D_VERSION/k3d-linux-amd64" "$K3D_SHA256"
fetch_verified argocd "https://github.com/argoproj/argo-cd/releases/download/$ARGOCD_VERSION/argocd-linux-amd64" "$ARGOCD_SHA256"
fetch_verified mkcert "https://github.com/FiloSottile/mkcert/releases/download/$MKCERT_VERSION/mkcert-$MKCERT_VERSION-linux-amd64" "$MKCERT_SHA256"

keyring=/etc/apt/keyrings/kubernetes-apt-keyring.gpg
sudo_if_needed install -d -m 0755 /etc/apt/keyrings
curl -fsSL "https://pkgs.k8s.io/core:/stable:/$KUBECTL_MINOR/deb/Release.key" | sudo_if_needed gpg --dearmor --yes -o "$keyring"
echo "deb [signed-by=$keyring] https://pkgs.k8s.io/core:/stable:/$KUBECTL_MINOR/deb/ /" \
  | sudo_if_needed tee /etc/apt/sources.list.d/kubernetes.list >/dev/null
sudo_if_needed apt-get update -qq
sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --allow-downgrades --no-install-recommends \
  "kubectl=$KUBECTL_VERSION-*" >/dev/null
ln -sf /usr/bin/kubectl "$dir/kubectl"   # the apt one, ahead of any other kubectl on PATH

[ -z "${GITHUB_PATH:-}" ] || echo "$dir" >>"$GITHUB_PATH"
"$dir/k3d" version
"$dir/argocd" version --client --short
"$dir/mkcert" -version
"$dir/kubectl" version --client
