"""Policy lint with checkov (offline: --skip-download; without it checkov calls its backend). Its failures
must be exactly the justified exceptions in checkov-exceptions.yaml."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .manifests import GITOPS, K8S, ROOT

EXCEPTIONS = Path(__file__).with_name("checkov-exceptions.yaml")


def checkov():
    path = shutil.which("checkov")
    if not path:
        pytest.fail("checkov is required (pip install checkov; .ci/steps/40-kubernetes.sh installs it)")
    return path


def run_checkov(args):
    out = subprocess.run([checkov(), "--skip-download", "-o", "json", *args],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.stdout.strip(), f"checkov printed nothing: {out.stderr[-2000:]}"
    # One JSON document per scanned directory, printed back to back.
    reports, text, pos = [], out.stdout.strip(), 0
    decoder = json.JSONDecoder()
    while pos < len(text):
        doc, pos = decoder.raw_decode(text, pos)
        reports += doc if isinstance(doc, list) else [doc]
        while pos < len(text) and text[pos].isspace():
            pos += 1
    assert all(r.get("summary", {}).get("parsing_errors", 0) == 0 for r in reports), out.stdout[:2000]
    return reports


def failures(reports):
    found = set()
    for r in reports:
        for f in r["results"]["failed_checks"]:
            # resource ids look like "overlay:dev:Deployment.humor-game.backend" or "Deployment.default.x"
            kind, _ns, name = f["resource"].split(":")[-1].split(".", 2)
            found.add((f["check_id"], f"{kind}/{name}"))
    return found


@pytest.fixture(scope="module")
def kustomize_reports():
    reports = run_checkov(["--framework", "kustomize", "-d", "k8s", "-d", "gitops"])
    passed = sum(r["summary"]["passed"] for r in reports)
    assert passed > 500, f"checkov ran only {passed} checks: did it find the kustomizations?"
    return reports


def test_checkov_kustomize_findings_are_exactly_the_justified_exceptions(kustomize_reports):
    allowed = yaml.safe_load(EXCEPTIONS.read_text())
    expected = {(check, res) for check, entry in allowed.items() for res in entry["resources"]}
    for check, entry in allowed.items():
        assert re.fullmatch(r"CKV_K8S_\d+", check)
        assert len(entry["reason"]) > 80, f"{check}: the reason must explain, not just name, the exception"
    found = failures(kustomize_reports)
    assert found - expected == set(), f"new checkov findings (fix them or justify them): {sorted(found - expected)}"
    assert expected - found == set(), f"exceptions that no longer match anything (remove them): {sorted(expected - found)}"


def test_checkov_covers_every_environment(kustomize_reports):
    ids = {f["resource"] for r in kustomize_reports for key in ("passed_checks", "failed_checks")
           for f in r["results"][key]}
    for env in ("dev", "staging", "prod"):
        assert any(i.startswith(f"overlay:{env}:") for i in ids), f"checkov did not scan {env}"


def test_checkov_passes_the_stand_alone_manifests():
    # network-policies.yaml too, so the graph check "every pod has a NetworkPolicy" sees them.
    files = [K8S / "ingress-prod.yaml", K8S / "cluster-issuer.yaml", GITOPS / "base" / "migrate-job.yaml",
             K8S / "network-policies.yaml",
             *sorted((GITOPS / "applications").glob("*.yaml"))]
    args = ["--framework", "kubernetes"]
    for f in files:
        args += ["-f", str(f.relative_to(ROOT))]
    allowed = yaml.safe_load(EXCEPTIONS.read_text())
    expected = {(check, res) for check, entry in allowed.items() for res in entry["resources"]}
    found = failures(run_checkov(args))
    assert found <= expected, f"unexpected findings: {sorted(found - expected)}"


def test_checkov_does_flag_a_bad_manifest(tmp_path):
    """The linter is live: a privileged, root, unlimited pod is flagged."""
    (tmp_path / "kustomization.yaml").write_text("resources:\n- pod.yaml\n")
    (tmp_path / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  hostNetwork: true\n  containers:\n"
        "  - name: c\n    image: nginx\n    securityContext:\n      privileged: true\n")
    found = failures(run_checkov(["--framework", "kustomize", "-d", str(tmp_path)]))
    ids = {c for c, _ in found}
    assert {"CKV_K8S_16", "CKV_K8S_19"} <= ids, ids  # privileged, hostNetwork
