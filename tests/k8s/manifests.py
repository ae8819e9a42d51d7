"""The Kubernetes/GitOps tests' view of the repository: rendering, the binary's contract, paths.

Everything here works offline: `kubectl kustomize` renders, the contract comes from `$HMG_BIN contract`
(CI always sets HMG_BIN; locally docs/contract.json is the fallback and the run says so).
"""
import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
GITOPS = ROOT / "gitops"
ENVIRONMENTS = ("dev", "staging", "prod")
ENV_NAMESPACE = {"dev": "humor-game", "staging": "humor-game-staging", "prod": "humor-game-prod"}
# Every kustomization we ship, by a short name.
KUSTOMIZATIONS = {"k8s": K8S, "base": GITOPS / "base", **{e: GITOPS / "environments" / e for e in ENVIRONMENTS}}
# Files in k8s/ owned by the observability area, not checked here.
FOREIGN_K8S_FILES = {"monitoring.yaml", "prometheus-rbac.yaml"}


def kubectl() -> str:
    path = shutil.which("kubectl")
    if not path:
        pytest.fail("kubectl (with kustomize v5) is required: these tests render every kustomization with it")
    return path


@functools.lru_cache(maxsize=None)
def render_dir(path: str) -> tuple:
    """Renders a kustomization directory; returns the objects as a tuple of dicts (cached, do not mutate)."""
    proc = subprocess.run([kubectl(), "kustomize", path], capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"kubectl kustomize {path} failed:\n{proc.stderr}")
    return tuple(d for d in yaml.safe_load_all(proc.stdout) if d)


def render(name: str) -> list:
    """Renders one of KUSTOMIZATIONS by short name, as deep copies the caller may change."""
    return json.loads(json.dumps(render_dir(str(KUSTOMIZATIONS[name]))))


def load_docs(path: Path) -> list:
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def our_k8s_files() -> list:
    """The manifest files in k8s/ that this area owns (not the kustomization itself)."""
    return sorted(p for p in K8S.glob("*.yaml") if p.name not in FOREIGN_K8S_FILES | {"kustomization.yaml"})


def find(objs, kind, name):
    hits = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(hits) == 1, f"expected exactly one {kind}/{name}, found {len(hits)}"
    return hits[0]


def load_contract():
    """The operational contract and where it came from."""
    binary = os.environ.get("HMG_BIN")
    if binary:
        if not os.access(binary, os.X_OK):
            pytest.fail(f"HMG_BIN={binary} is not an executable")
        proc = subprocess.run([binary, "contract"], capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            pytest.fail(f"{binary} contract failed: {proc.stderr}")
        return json.loads(proc.stdout), f"{binary} contract"
    if os.environ.get("CI"):
        pytest.fail("CI must test against the real binary: set HMG_BIN")
    return json.loads((ROOT / "docs" / "contract.json").read_text()), "docs/contract.json"
