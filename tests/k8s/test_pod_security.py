"""Every pod we ship passes Pod Security 'restricted' (the namespace enforces it, so a violation would be
a pod that never starts), plus the hardening the issue asks for on top of it."""
import copy

import pytest

from .manifests import KUSTOMIZATIONS, render
from .pod_rules import all_containers, pod_security_violations, pods

# Paths each image writes; each must be a volume because the root filesystem is read-only.
WRITABLE_PATHS = {
    "postgres": {"/var/lib/postgresql/data", "/var/run/postgresql", "/tmp"},
    "redis": {"/data", "/tmp"},
    "frontend": {"/tmp", "/var/cache/nginx"},
    "backend": {"/tmp"},
    "migrate": {"/tmp"},
    "backup": {"/backups", "/tmp"},
    "check": {"/backups"},
}


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_every_pod_passes_pod_security_restricted(name):
    found = pods(render(name))
    assert len(found) >= 5, f"{name}: expected the app's workloads, found {len(found)}"
    problems = []
    for owner, _meta, spec in found:
        for v in pod_security_violations(spec):
            problems.append(f"{owner['kind']}/{owner['metadata']['name']}: {v}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_every_pod_is_hardened_beyond_the_standard(name):
    problems = []
    for owner, _meta, spec in pods(render(name)):
        where = f"{owner['kind']}/{owner['metadata']['name']}"
        if spec.get("enableServiceLinks") is not False:
            problems.append(f"{where}: enableServiceLinks must be false")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: automountServiceAccountToken must be false (no pod talks to the API)")
        for c in all_containers(spec):
            sc = c.get("securityContext") or {}
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}/{c['name']}: readOnlyRootFilesystem must be true")
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in (res.get(part) or {}):
                        problems.append(f"{where}/{c['name']}: resources.{part}.{r} missing")
            mounts = {m["mountPath"] for m in c.get("volumeMounts") or []}
            missing = WRITABLE_PATHS.get(c["name"], {"/tmp"}) - mounts
            if missing:
                problems.append(f"{where}/{c['name']}: no volume for written paths {sorted(missing)}")
            if c["name"] not in WRITABLE_PATHS:
                problems.append(f"{where}/{c['name']}: unknown container; add its written paths to this test")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("mutate,expected", [
    (lambda s: s["containers"][0]["securityContext"].update(allowPrivilegeEscalation=True), "allowPrivilegeEscalation"),
    (lambda s: s["containers"][0]["securityContext"].update(capabilities={"drop": ["NET_RAW"]}), "drop ALL"),
    (lambda s: s["containers"][0]["securityContext"].update(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}), "beyond baseline"),
    (lambda s: s["containers"][0]["securityContext"].update(runAsNonRoot=False), "runAsNonRoot"),
    (lambda s: s["securityContext"].update(runAsUser=0), "runAsUser"),
    (lambda s: s["securityContext"].pop("seccompProfile"), "seccompProfile"),
    (lambda s: s.update(hostNetwork=True), "hostNetwork"),
    (lambda s: s["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "hostPath"),
    (lambda s: s["containers"][0]["ports"][0].update(hostPort=80), "hostPort"),
    (lambda s: s["containers"][0]["securityContext"].update(privileged=True), "privileged"),
])
def test_the_checker_catches_each_violation(mutate, expected):
    backend = next(o for o in render("k8s") if o["kind"] == "Deployment" and o["metadata"]["name"] == "backend")
    spec = copy.deepcopy(backend["spec"]["template"]["spec"])
    assert pod_security_violations(spec) == []
    mutate(spec)
    assert any(expected in v for v in pod_security_violations(spec)), pod_security_violations(spec)
