#!/usr/bin/env python3
"""Prints what `scripts/cluster.sh up` made, one sorted line per object, in a form that changes only when an
object is created, recreated or given a new configuration: kind, namespace, name, uid, and a hash of the
configuration last applied to it (the annotation `kubectl apply` writes) or, for what was applied
server-side (Argo CD), its generation. Status, an autoscaler's replica count and controllers' own writes leave
it alone; Jobs that delete themselves when done (ttlSecondsAfterFinished) are left out.

    scripts/guide/cluster-fingerprint.py > before.txt; scripts/cluster.sh up; scripts/guide/cluster-fingerprint.py > after.txt
    diff before.txt after.txt        # the e2e-cluster workflow requires no difference

Uses kubectl's current context.
"""
import hashlib
import json
import subprocess
import sys

NAMESPACES = ("ingress-nginx", "cert-manager", "argocd", "monitoring", "humor-game")
NAMESPACED = ("deployments,statefulsets,daemonsets,services,configmaps,serviceaccounts,ingresses,"
              "persistentvolumeclaims,jobs,cronjobs,horizontalpodautoscalers,poddisruptionbudgets,"
              "networkpolicies,roles,rolebindings")
CLUSTER_WIDE = "namespaces,clusterroles,clusterrolebindings,customresourcedefinitions"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def objects(args):
    proc = subprocess.run(["kubectl", "get", *args, "-o", "json"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"cluster-fingerprint: kubectl get {' '.join(args)} failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout).get("items", [])


def line(obj):
    meta = obj["metadata"]
    applied = (meta.get("annotations") or {}).get(LAST_APPLIED)
    config = ("applied:" + hashlib.sha256(applied.encode()).hexdigest()[:16]) if applied \
        else f"generation:{meta.get('generation', '-')}"
    return f"{obj['kind']} {meta.get('namespace', '-')}/{meta['name']} {meta['uid']} {config}"


def fingerprint():
    found = objects([CLUSTER_WIDE])
    for ns in NAMESPACES:
        found += objects([NAMESPACED, "-n", ns])
    return sorted(line(o) for o in found
                  if not (o["kind"] == "Job" and (o.get("spec") or {}).get("ttlSecondsAfterFinished") is not None))


if __name__ == "__main__":
    sys.stdout.write("".join(f"{entry}\n" for entry in fingerprint()))
