#!/usr/bin/env bash
# What a failed cluster run leaves for a person to read: for each namespace, the objects (get -o wide and
# -o yaml), every pod described, every container's log (and the previous one after a restart), and the events
# in time order; cluster-wide: nodes, namespaces, Argo CD's Applications; k3d's view of the cluster.
# Secrets appear by name and type only: no value is written.
#
#   scripts/guide/collect-diagnostics.sh DIR [NAMESPACE...]
#
# Default namespaces: the app's three environments and every add-on the guide installs. A namespace that does
# not exist gets a one-line note; a command that fails is noted in its file and the collection goes on, so
# whatever is there is kept. Uses the current kubectl context (KUBECONFIG).
set -uo pipefail

out=${1:?usage: collect-diagnostics.sh DIR [NAMESPACE...]}
shift
namespaces=("$@")
[ ${#namespaces[@]} -gt 0 ] || namespaces=(humor-game humor-game-staging humor-game-prod argocd ingress-nginx
  cert-manager monitoring kube-system)
mkdir -p "$out"

# Runs a command into a file; a failure is written into the same file.
into() {
  local file=$1
  shift
  "$@" >"$file" 2>&1 || echo "(failed with status $?: $*)" >>"$file"
}

into "$out/cluster.txt" kubectl get nodes,namespaces -o wide
into "$out/applications.yaml" kubectl get applications.argoproj.io -A -o yaml
if command -v k3d >/dev/null; then
  into "$out/k3d.txt" k3d cluster list
fi

for ns in "${namespaces[@]}"; do
  dir=$out/$ns
  mkdir -p "$dir"
  if ! kubectl get namespace "$ns" >/dev/null 2>&1; then
    echo "namespace $ns does not exist" >"$dir/ABSENT.txt"
    continue
  fi
  into "$dir/objects.txt" kubectl get all,ingress,pvc,configmap,secret,networkpolicy,hpa,pdb,job,cronjob -n "$ns" -o wide
  into "$dir/objects.yaml" kubectl get all,ingress,pvc,hpa,pdb,job,cronjob -n "$ns" -o yaml
  into "$dir/events.txt" kubectl get events -n "$ns" --sort-by=.lastTimestamp
  into "$dir/describe-pods.txt" kubectl describe pods -n "$ns"
  for pod in $(kubectl get pods -n "$ns" -o jsonpath='{.items[*].metadata.name}' 2>/dev/null); do
    into "$dir/logs-$pod.txt" kubectl logs "$pod" -n "$ns" --all-containers --prefix --tail=500
    restarts=$(kubectl get pod "$pod" -n "$ns" -o jsonpath='{.status.containerStatuses[*].restartCount}' 2>/dev/null)
    if [[ $restarts =~ [1-9] ]]; then
      into "$dir/logs-$pod-previous.txt" kubectl logs "$pod" -n "$ns" --all-containers --prefix --previous --tail=500
    fi
  done
done
echo "diagnostics in $out: $(find "$out" -type f | wc -l) files"
