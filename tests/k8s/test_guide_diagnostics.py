"""The e2e-cluster workflow's helpers, against a recording kubectl (recording_tools.py):
scripts/guide/collect-diagnostics.sh (what a failed run leaves) and scripts/guide/cluster-fingerprint.py (what
must not change on a second `scripts/cluster.sh up`)."""
import hashlib
import json
import subprocess
import sys

import pytest

from .recording_tools import RecordingTools
from .scratch_checkout import ROOT

COLLECT = ROOT / "scripts" / "guide" / "collect-diagnostics.sh"
FINGERPRINT = ROOT / "scripts" / "guide" / "cluster-fingerprint.py"


@pytest.fixture
def kubectl(tmp_path):
    return RecordingTools(tmp_path, ["kubectl"])


def test_diagnostics_keep_objects_events_descriptions_and_logs_and_go_on_past_failures(tmp_path, kubectl):
    kubectl.answer("kubectl", r"^get namespace argocd$", stderr="NotFound\n", exit=1)
    kubectl.answer("kubectl", r"^get pods -n humor-game -o jsonpath", stdout="backend-1 postgres-1")
    kubectl.answer("kubectl", r"^get pod postgres-1 .*restartCount", stdout="0 2")
    kubectl.answer("kubectl", r"^get pod backend-1 .*restartCount", stdout="0")
    kubectl.answer("kubectl", r"^describe pods -n humor-game", stderr="error: the server is gone\n", exit=1)
    kubectl.answer("kubectl", r"^logs backend-1 -n humor-game", stdout="[backend] listening on 0.0.0.0:3001\n")
    out = tmp_path / "diagnostics"
    r = subprocess.run(["bash", str(COLLECT), str(out), "humor-game", "argocd"], env=kubectl.env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    game = out / "humor-game"
    for name in ("objects.txt", "objects.yaml", "events.txt", "describe-pods.txt", "logs-backend-1.txt",
                 "logs-postgres-1.txt", "logs-postgres-1-previous.txt"):
        assert (game / name).is_file(), name
    assert not (game / "logs-backend-1-previous.txt").exists(), "no restart, no previous log"
    assert "listening on 0.0.0.0:3001" in (game / "logs-backend-1.txt").read_text()
    assert "the server is gone" in (game / "describe-pods.txt").read_text()
    assert "failed with status 1" in (game / "describe-pods.txt").read_text()
    assert (out / "argocd" / "ABSENT.txt").read_text().strip() == "namespace argocd does not exist"
    assert (out / "applications.yaml").is_file() and (out / "cluster.txt").is_file()
    calls = kubectl.calls()
    assert ("kubectl", ["get", "events", "-n", "humor-game", "--sort-by=.lastTimestamp"]) in calls
    assert ("kubectl", ["logs", "postgres-1", "-n", "humor-game", "--all-containers", "--prefix", "--previous",
                        "--tail=500"]) in calls
    for _, args in calls:
        if "-o" in args and args[args.index("-o") + 1] == "yaml":
            assert "secret" not in args[1].split(","), "no Secret's values in the artifact"


def items(*objs):
    return json.dumps({"kind": "List", "items": list(objs)})


def deployment(uid="u-1", applied='{"spec":{"template":1}}', replicas=2, ready=2):
    return {"kind": "Deployment", "metadata": {"name": "backend", "namespace": "humor-game", "uid": uid,
                                               "generation": 7,
                                               "annotations": {"kubectl.kubernetes.io/last-applied-configuration": applied}},
            "spec": {"replicas": replicas}, "status": {"readyReplicas": ready}}


def fingerprint(kubectl, *objs, cluster=()):
    kubectl.rules.clear()
    kubectl.answer("kubectl", r"^get namespaces,clusterroles", stdout=items(*cluster))
    kubectl.answer("kubectl", r"-n humor-game -o json$", stdout=items(*objs))
    kubectl.answer("kubectl", r"^get ", stdout=items())
    r = subprocess.run([sys.executable, str(FINGERPRINT)], env=kubectl.env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_the_fingerprint_ignores_status_and_scaling_but_not_a_new_object_or_configuration(kubectl):
    argocd_server = {"kind": "Deployment", "metadata": {"name": "argocd-server", "namespace": "argocd", "uid": "a-1",
                                                        "generation": 3}}
    namespace = {"kind": "Namespace", "metadata": {"name": "humor-game", "uid": "n-1"}}
    base = fingerprint(kubectl, deployment(), argocd_server, cluster=[namespace])
    assert base.splitlines() == sorted([
        "Deployment argocd/argocd-server a-1 generation:3",
        "Deployment humor-game/backend u-1 applied:" + hashlib.sha256(b'{"spec":{"template":1}}').hexdigest()[:16],
        "Namespace -/humor-game n-1 generation:-"])
    assert fingerprint(kubectl, deployment(replicas=5, ready=3), argocd_server, cluster=[namespace]) == base
    assert fingerprint(kubectl, deployment(uid="u-2"), argocd_server, cluster=[namespace]) != base
    assert fingerprint(kubectl, deployment(applied='{"spec":{"template":2}}'), argocd_server,
                       cluster=[namespace]) != base
    moved = dict(argocd_server, metadata=dict(argocd_server["metadata"], generation=4))
    assert fingerprint(kubectl, deployment(), moved, cluster=[namespace]) != base
    ttl_job = {"kind": "Job", "metadata": {"name": "admission-create", "namespace": "ingress-nginx", "uid": "j-1"},
               "spec": {"ttlSecondsAfterFinished": 0}}
    assert fingerprint(kubectl, deployment(), argocd_server, ttl_job, cluster=[namespace]) == base


def test_the_fingerprint_fails_when_kubectl_does(kubectl):
    kubectl.answer("kubectl", r"^get ", stderr="The connection to the server was refused\n", exit=1)
    r = subprocess.run([sys.executable, str(FINGERPRINT)], env=kubectl.env(), capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "connection to the server was refused" in r.stderr
