#!/usr/bin/env bash
# One command to the guide's end state on this machine: a k3d cluster with its registry, ingress-nginx,
# cert-manager, Argo CD, the monitoring stack, both images, and the dev environment running.
#
#   scripts/cluster.sh up       create what is missing, apply the rest (a second run changes nothing)
#   scripts/cluster.sh status   what runs: cluster, registry, images, add-ons, the app
#   scripts/cluster.sh down     delete the cluster, then the registry
#
# The guide's names and ports (docs/deployment.md): cluster dev-cluster (1 server, 2 agents, ports
# 8080->80 and 8443->443 on its load balancer, no Traefik), registry k3d-registry on localhost:5001 with a
# mirror so pods pull localhost:5001/...; images localhost:5001/humor-game/{backend,frontend} at the tags
# gitops/environments/dev deploys (built only when the registry lacks that tag: a new version is a new tag);
# the dev environment in namespace humor-game (Secret from k8s/secrets.env, made by scripts/create-secrets.sh
# --generate the first time). `up` makes k3d-dev-cluster kubectl's current context, as k3d cluster create does.
# Needs docker, k3d, kubectl, jq and curl. The versions below are pinned; docs/deployment.md lists them.
set -euo pipefail

K3D_VERSION=v5.9.0                            # the k3d this was tested with (its default k3s image)
INGRESS_NGINX_VERSION=controller-v1.12.1      # as the guide's 3.1 in docs/deployment.md
CERT_MANAGER_VERSION=v1.13.0                  # as the guide's 6.2
ARGOCD_VERSION=v3.4.5                         # the guide applies `stable`; pinned here
CLUSTER=dev-cluster
REGISTRY=k3d-registry                         # `k3d registry create registry` names the container k3d-registry
REGISTRY_PORT=5001
APP_NAMESPACE=humor-game
WAIT=300s

INGRESS_NGINX_URL=https://raw.githubusercontent.com/kubernetes/ingress-nginx/$INGRESS_NGINX_VERSION/deploy/static/provider/cloud/deploy.yaml
CERT_MANAGER_URL=https://github.com/cert-manager/cert-manager/releases/download/$CERT_MANAGER_VERSION/cert-manager.yaml
ARGOCD_URL=https://raw.githubusercontent.com/argoproj/argo-cd/$ARGOCD_VERSION/manifests/install.yaml

root=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "cluster: $*" >&2; exit 1; }
say() { printf '\n== %s\n' "$*"; }
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool not found on PATH (docs/deployment.md lists the tools)"
  done
}

# k3d's JSON lists answer "does it exist": anything but a list holding the name (no Docker, no list) is "no".
has_named() { jq -e --arg name "$1" '(. // []) | any(.[]; .name == $name)' >/dev/null 2>&1; }
cluster_exists() { k3d cluster list -o json 2>/dev/null | has_named "$CLUSTER"; }
registry_exists() { k3d registry list -o json 2>/dev/null | has_named "$REGISTRY"; }
namespace_exists() { kubectl get namespace "$1" >/dev/null 2>&1; }

ensure_registry() {
  if registry_exists; then
    echo "registry $REGISTRY: exists"
  else
    k3d registry create "${REGISTRY#k3d-}" --port "$REGISTRY_PORT"
  fi
}

ensure_cluster() {
  if cluster_exists; then
    echo "cluster $CLUSTER: exists"
  else
    local mirror
    mirror=$(mktemp)
    printf 'mirrors:\n  "localhost:%s":\n    endpoint:\n      - http://%s:5000\n' "$REGISTRY_PORT" "$REGISTRY" >"$mirror"
    k3d cluster create "$CLUSTER" \
      --servers 1 --agents 2 \
      --port "8080:80@loadbalancer" --port "8443:443@loadbalancer" \
      --k3s-arg "--disable=traefik@server:0" \
      --registry-use "$REGISTRY:$REGISTRY_PORT" \
      --registry-config "$mirror" || { rm -f "$mirror"; die "k3d cluster create failed"; }
    rm -f "$mirror"
  fi
  kubectl config use-context "k3d-$CLUSTER" >/dev/null
}

# localhost:5001/humor-game/<component>:<tag>, one line each, as gitops/environments/dev deploys them.
dev_images() {
  kubectl kustomize "$root/gitops/environments/dev" \
    | sed -n "s|^[ -]*image: \(localhost:$REGISTRY_PORT/humor-game/[a-z]*:[^ \"]*\).*|\1|p" | sort -u
}

ensure_images() {
  local image repository tag component
  for image in $(dev_images); do
    repository=${image#localhost:"$REGISTRY_PORT"/}
    tag=${repository##*:}
    repository=${repository%:*}
    component=${repository#humor-game/}
    if curl -fsS "http://localhost:$REGISTRY_PORT/v2/$repository/tags/list" 2>/dev/null | grep -q "\"$tag\""; then
      echo "image $image: in the registry"
    else
      [ -f "$root/$component/Dockerfile" ] || die "no $component/Dockerfile for $image"
      docker build -t "$image" "$root/$component/"
      docker push "$image"
    fi
  done
}

ensure_namespace() {
  if namespace_exists "$1"; then
    echo "namespace $1: exists"
  else
    kubectl create namespace "$1"
  fi
}

# `kubectl rollout status` rather than the guide's `kubectl wait -l ...`: right after an apply the Deployment exists
# but may have no pod yet, and `kubectl wait` then fails at once with "no matching resources found".
rolled_out() {
  local ns=$1 deployment
  shift
  for deployment in "$@"; do
    kubectl rollout status "deployment/$deployment" -n "$ns" --timeout="$WAIT"
  done
}

install_addons() {
  say "ingress-nginx $INGRESS_NGINX_VERSION"
  kubectl apply -f "$INGRESS_NGINX_URL"
  rolled_out ingress-nginx ingress-nginx-controller
  say "cert-manager $CERT_MANAGER_VERSION"
  kubectl apply -f "$CERT_MANAGER_URL"
  rolled_out cert-manager cert-manager cert-manager-webhook cert-manager-cainjector
  say "Argo CD $ARGOCD_VERSION"
  ensure_namespace argocd
  kubectl apply -n argocd --server-side --force-conflicts -f "$ARGOCD_URL"
  rolled_out argocd argocd-server argocd-repo-server
  say "monitoring (k8s/monitoring.yaml)"
  kubectl apply -f "$root/k8s/prometheus-rbac.yaml"
  kubectl apply -f "$root/k8s/monitoring.yaml"
  rolled_out monitoring prometheus grafana
}

deploy_dev() {
  say "dev environment (gitops/environments/dev) in namespace $APP_NAMESPACE"
  ensure_namespace "$APP_NAMESPACE"
  if [ -f "$root/k8s/secrets.env" ]; then
    "$root/scripts/create-secrets.sh" -n "$APP_NAMESPACE"
  else
    "$root/scripts/create-secrets.sh" -n "$APP_NAMESPACE" --generate
  fi
  kubectl apply -k "$root/gitops/environments/dev"
  rolled_out "$APP_NAMESPACE" postgres redis backend frontend
}

up() {
  need_tools docker k3d kubectl jq curl
  local version
  version=$(k3d version 2>/dev/null | sed -n 's/^k3d version //p')
  [ "$version" = "$K3D_VERSION" ] || echo "cluster: note: k3d ${version:-unknown} here; this is tested with $K3D_VERSION" >&2
  say "registry and cluster"
  ensure_registry
  ensure_cluster
  say "images"
  ensure_images
  install_addons
  deploy_dev
  say "up"
  echo "The game: https://gameapp.local:8443/ (add '127.0.0.1 gameapp.local' to /etc/hosts; the guide's 3.2"
  echo "makes a trusted certificate with mkcert). Argo CD, Prometheus, Grafana: kubectl port-forward, as in the"
  echo "guide (docs/deployment.md). scripts/cluster.sh status shows what runs; scripts/cluster.sh down removes it."
}

status() {
  need_tools k3d kubectl jq curl
  local up=1 ns
  if cluster_exists; then echo "cluster $CLUSTER: exists"; else echo "cluster $CLUSTER: absent"; up=0; fi
  if registry_exists; then echo "registry $REGISTRY: exists (localhost:$REGISTRY_PORT)"; else echo "registry $REGISTRY: absent"; up=0; fi
  if [ "$up" = 0 ]; then
    echo "not up: scripts/cluster.sh up"
    return 1
  fi
  echo "images: $(curl -fsS "http://localhost:$REGISTRY_PORT/v2/_catalog" 2>/dev/null || echo 'registry not answering')"
  say "nodes"
  kubectl --context="k3d-$CLUSTER" get nodes
  for ns in ingress-nginx cert-manager argocd monitoring "$APP_NAMESPACE"; do
    say "namespace $ns"
    kubectl --context="k3d-$CLUSTER" get deployments -n "$ns" 2>&1 || true
  done
}

down() {
  need_tools k3d jq
  if cluster_exists; then k3d cluster delete "$CLUSTER"; else echo "cluster $CLUSTER: absent"; fi
  if registry_exists; then k3d registry delete "$REGISTRY"; else echo "registry $REGISTRY: absent"; fi
}

case ${1:-} in
  up) up ;;
  status) status ;;
  down) down ;;
  -h|--help) usage ;;
  *) usage >&2; exit 2 ;;
esac
