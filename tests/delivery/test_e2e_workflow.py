"""e2e-cluster.yml, the guide run for real on a k3d cluster: what it runs and with which data, pinned actions,
read-only permissions, timeouts, diagnostics kept only when a job fails. (actionlint, zizmor and the schema
check every workflow in test_workflows.py, this one included.)"""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "e2e-cluster.yml"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def load():
    doc = yaml.safe_load(WORKFLOW.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def steps(job):
    return load()["jobs"][job]["steps"]


def scripts_named(text):
    return set(re.findall(r"(?:\.github/scripts|scripts)/[\w./-]+\.(?:sh|py|txt)", text))


def test_it_runs_on_changes_to_what_the_guide_deploys_and_by_hand():
    on = load()["on"]
    for event in ("pull_request", "push"):
        assert {"k8s/**", "gitops/**", "backend/**", "frontend/**", ".github/workflows/e2e-cluster.yml",
                "tests/k8s/guide-replay.yaml"} <= set(on[event]["paths"]), event
    assert "workflow_dispatch" in on


def test_every_script_and_data_file_it_names_exists_and_the_guide_data_is_the_models():
    text = WORKFLOW.read_text()
    named = scripts_named(text)
    assert {"scripts/guide/run-guide.py", "scripts/cluster.sh", "scripts/guide/collect-diagnostics.sh",
            ".github/scripts/e2e-tools.sh", "scripts/guide/cluster-fingerprint.py"} <= named
    for path in named:
        assert (ROOT / path).is_file(), path
    runner = (ROOT / "scripts/guide/run-guide.py").read_text()
    assert 'GUIDE_DATA = ROOT / "tests" / "k8s" / "guide-replay.yaml"' in runner
    assert "--steps" not in text, "the workflow runs the guide's own list"
    for path in filter(lambda p: "guide" in p or p.endswith(".py"), named):
        for inner in scripts_named((ROOT / path).read_text()):
            assert (ROOT / inner).exists(), f"{path} names {inner}"


def test_the_guide_job_ends_with_production_test_and_the_final_check_for_every_environment():
    run = "\n".join(s.get("run", "") for s in steps("guide"))
    assert re.search(r"scripts/guide/run-guide.py --workdir \S+ --final-check", run)
    data = yaml.safe_load((ROOT / "tests/k8s/guide-replay.yaml").read_text())["steps"]
    on_k3d = [s for s in data if s.get("needs") != "public-host"]
    assert on_k3d[-1]["run"] == "scripts/production-test.sh" and on_k3d[-1]["output"] == "0 failed"
    runner = (ROOT / "scripts/guide/run-guide.py").read_text()
    assert "scripts/production-test.sh" in runner and "humor-game-dev humor-game-staging humor-game-prod" in runner


def test_the_one_command_job_runs_up_twice_requires_no_change_and_always_runs_down():
    job = steps("one-command")
    runs = [s.get("run", "") for s in job]
    ups = [r for r in runs if "scripts/cluster.sh up" in r]
    assert len(ups) == 2
    again = ups[1]
    assert again.index("cluster-fingerprint.py") < again.index("scripts/cluster.sh up") < \
        again.rindex("cluster-fingerprint.py") < again.index("diff ")
    (down,) = [s for s in job if "scripts/cluster.sh down" in s.get("run", "")]
    assert down.get("if") == "always()" and job[-1] is down


def test_diagnostics_are_collected_and_uploaded_only_on_failure():
    for job in ("guide", "one-command"):
        collect = [s for s in steps(job) if "collect-diagnostics.sh" in s.get("run", "")]
        uploads = [s for s in steps(job) if s.get("uses", "").startswith("actions/upload-artifact@")]
        assert collect and uploads, job
        for step in collect + uploads:
            assert step.get("if") == "failure()", f"{job}: {step.get('name')}"
        assert all("diagnostics" in u["with"]["path"] for u in uploads)


def test_actions_are_pinned_to_the_commits_ci_yml_uses():
    ci = (ROOT / ".github/workflows/ci.yml").read_text()
    for job in ("guide", "one-command"):
        for step in steps(job):
            if "uses" in step:
                line = next(l for l in WORKFLOW.read_text().splitlines() if step["uses"] in l)
                uses = line.split("uses:", 1)[1].strip()
                assert PINNED.match(uses), uses
                assert uses in ci, f"{uses}: the same commit as ci.yml"


def test_jobs_read_only_with_timeouts_and_no_secrets():
    doc = load()
    assert doc["permissions"] == {}
    for name, job in doc["jobs"].items():
        assert job["permissions"] == {"contents": "read"}, name
        assert 0 < job["timeout-minutes"] <= 120, name
    assert "${{ secrets." not in WORKFLOW.read_text()


def test_the_tools_are_pinned_and_checked_against_their_checksums():
    text = (ROOT / ".github/scripts/e2e-tools.sh").read_text()
    for tool in ("K3D", "ARGOCD", "MKCERT"):
        assert re.search(rf"^{tool}_VERSION=v\d+\.\d+\.\d+$", text, re.M), tool
        assert re.search(rf"^{tool}_SHA256=[0-9a-f]{{64}}$", text, re.M), tool
        assert f'"${tool}_SHA256"' in text, f"{tool}'s checksum is used"
    assert "sha256sum --check" in text and re.search(r"^KUBECTL_VERSION=\d+\.\d+\.\d+$", text, re.M)
    assert "signed-by=" in text
