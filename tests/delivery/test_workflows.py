"""The GitHub Actions workflows, checked offline: actionlint with shellcheck over every run block, zizmor's
security audit, GitHub's workflow schema, pinning, permissions, and that ci.yml runs what .ci/run runs."""
import json
import re
import shutil

import pytest

from .tools import ROOT, WORKFLOWS, all_workflows, run, tool, workflow

PINNED = re.compile(r"^(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40}) # v\d+\.\d+\.\d+$")


def actionlint(*files):
    shellcheck = shutil.which("shellcheck")
    if not shellcheck:
        pytest.fail("shellcheck is not installed (.ci/steps/45-delivery.sh installs it)")
    return run([tool("actionlint"), f"-shellcheck={shellcheck}", *map(str, files)], cwd=ROOT)


def test_actionlint_with_shellcheck_passes_on_every_workflow():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"ci.yml", "release.yml", "promote.yml"}
    r = actionlint(*files)
    assert r.returncode == 0, r.stdout + r.stderr


def test_actionlint_runs_shellcheck_on_run_blocks(tmp_path):
    """A control: the same command on a workflow with an unquoted variable fails with shellcheck's finding."""
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    permissions: {}\n"
                   "    steps:\n      - run: rm -rf $DIR/*\n")
    r = actionlint(bad)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "shellcheck reported issue" in r.stdout and "SC2115" in r.stdout, r.stdout


def test_zizmor_finds_nothing():
    r = run([tool("zizmor"), "--offline", "--no-progress", "--format", "plain", str(WORKFLOWS)], cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_workflows_match_githubs_workflow_schema():
    r = run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
             *map(str, sorted(WORKFLOWS.glob("*.yml")))])
    assert r.returncode == 0, r.stdout + r.stderr


def uses_of(doc):
    for job in doc["jobs"].values():
        for step in job.get("steps", []):
            if "uses" in step:
                yield step["uses"]


def test_every_third_party_action_is_pinned_by_commit_with_its_version_in_a_comment():
    seen = {}
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for line in path.read_text().splitlines():
            m = re.match(r"^\s*(?:-\s+)?uses:\s*(.+?)\s*$", line)
            if not m or m.group(1).startswith("./"):
                continue
            pin = PINNED.match(m.group(1))
            assert pin, f"{path.name}: '{m.group(1)}' is not pinned by a full commit SHA with '# vX.Y.Z'"
            action = pin["action"].split("/")[0] + "/" + pin["action"].split("/")[1]
            # One version of each action across the workflows, so an update moves all of them.
            assert seen.setdefault(action, pin["sha"]) == pin["sha"], f"{action} is pinned to two commits"
    assert seen


def test_every_job_has_least_privilege_permissions():
    for name, doc in all_workflows().items():
        assert doc.get("permissions") == {}, f"{name}: the workflow default must grant nothing"
        for job_name, job in doc["jobs"].items():
            perms = job.get("permissions")
            assert isinstance(perms, dict), f"{name}/{job_name} must say what it needs"
            assert "write-all" not in json.dumps(perms)
            writes = {k for k, v in perms.items() if v == "write"}
            allowed = {"release.yml/images": {"packages"}, "release.yml/deploy-dev": {"contents", "pull-requests"},
                       "promote.yml/promote": {"contents", "pull-requests"}}.get(f"{name}/{job_name}", set())
            assert writes == allowed, f"{name}/{job_name} writes {writes}"


def test_no_expression_is_spliced_into_a_script_and_no_secret_is_echoed():
    for name, doc in all_workflows().items():
        for job_name, job in doc["jobs"].items():
            for step in job.get("steps", []):
                script = step.get("run", "")
                # A ${{ }} inside run: is pasted into the script before bash sees it: injection, and printing.
                assert "${{" not in script, f"{name}/{job_name}: pass values through env:, not into run:"
                for line in script.splitlines():
                    assert not re.search(r"\b(echo|printf)\b.*\$(GH_TOKEN|GITHUB_TOKEN|\{?REGISTRY_PASSWORD)", line), line
                for key, value in step.get("env", {}).items():
                    if "secrets." in str(value):
                        assert re.search(r"TOKEN|PASSWORD", key), f"{name}/{job_name}: {key} carries a secret"


def test_checkouts_do_not_leave_credentials_behind():
    for name, doc in all_workflows().items():
        for job in doc["jobs"].values():
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step.get("with", {}).get("persist-credentials") is False, name


# ------------------------------------------------------------------------------------------ ci.yml == .ci/run
def test_ci_runs_every_step_of_ci_run_exactly_once():
    doc = workflow("ci.yml")
    ran = []
    for job in doc["jobs"].values():
        steps = job.get("strategy", {}).get("matrix", {}).get("step", [])
        for step in job["steps"]:
            m = re.search(r"ci-step\.sh (\S+)", step.get("run", ""))
            if m:
                ran.extend(steps if m.group(1) == '"$STEP"' else [m.group(1)])
    assert sorted(ran) == sorted(p.stem for p in (ROOT / ".ci/steps").glob("*.sh"))


def test_only_steps_that_need_the_binary_wait_for_step_10_and_get_it():
    doc = workflow("ci.yml")
    jobs = doc["jobs"]
    uploads = [s for s in jobs["server"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")
               and s["with"]["name"] == "humor-memory-game"]
    assert uploads and uploads[0]["with"]["path"] == "target/release/humor-memory-game"
    binary_users = {p.stem for p in (ROOT / ".ci/steps").glob("*.sh") if "HMG_BIN" in p.read_text()} - {"10-server"}
    matrix = set(jobs["steps"]["strategy"]["matrix"]["step"])
    assert binary_users <= matrix and jobs["steps"]["needs"] == "server"
    (download,) = [s for s in jobs["steps"]["steps"] if s.get("uses", "").startswith("actions/download-artifact@")]
    assert download["with"] == {"name": "humor-memory-game", "path": "target/release"}
    assert "needs" not in jobs["delivery"]


def test_ci_step_sets_up_what_ci_run_sets_up():
    """Every prerequisite and export of .ci/run appears, as written, in .github/scripts/ci-step.sh."""
    ci_run = (ROOT / ".ci/run").read_text()
    ci_step = (ROOT / ".github/scripts/ci-step.sh").read_text()
    lines = [l.strip() for l in ci_run.splitlines()
             if re.match(r"\s*(export |ci_apt_install|ci_ensure_|\. \"\$ROOT/\.ci/lib\.sh\"|ROOT=|mkdir -p \"\$ARTIFACTS\")", l)]
    assert len(lines) >= 8, lines
    for line in lines:
        assert line in ci_step, f".ci/run's '{line}' is missing from .github/scripts/ci-step.sh"


def test_caches_hold_only_downloads_and_build_output():
    doc = workflow("ci.yml")
    for job in doc["jobs"].values():
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/cache"):
                paths = step["with"]["path"].split()
                assert set(paths) <= {"/usr/local/cargo/registry/index", "/usr/local/cargo/registry/cache",
                                      "/usr/local/cargo/git/db", "target"}
                assert "hashFiles('Cargo.lock')" in step["with"]["key"]
            if step.get("uses", "").startswith("actions/setup-node@") and "cache" in step.get("with", {}):
                assert step["with"]["cache-dependency-path"] == "frontend/package-lock.json"


def test_advisory_checks_use_the_network_only_in_github_actions():
    doc = workflow("ci.yml")
    script = "\n".join(s.get("run", "") for s in doc["jobs"]["advisories"]["steps"])
    assert "cargo-deny\" --locked check advisories" in script
    assert "npm audit --omit=dev" in script
    assert "cargo install" not in json.dumps(doc)


# ------------------------------------------------------------------------------------------ release.yml
def dockerfile_args(component):
    return set(re.findall(r"^ARG (\w+)", (ROOT / component / "Dockerfile").read_text(), re.M))


def test_release_builds_both_images_for_both_platforms_with_the_dockerfiles_arguments():
    doc = workflow("release.yml")
    assert doc["on"]["push"]["tags"][0] == "v[0-9]+.[0-9]+.[0-9]+"
    job = doc["jobs"]["images"]
    assert job["strategy"]["matrix"]["component"] == ["backend", "frontend"]
    (build,) = [s for s in job["steps"] if s.get("uses", "").startswith("docker/build-push-action@")]
    w = build["with"]
    assert w["context"] == "${{ matrix.component }}"
    assert w["platforms"] == "linux/amd64,linux/arm64" and w["push"] is True
    assert w["sbom"] is True and w["provenance"] == "mode=max"
    args = dict(l.strip().split("=", 1) for l in w["build-args"].strip().splitlines())
    assert args["REVISION"] == "${{ github.sha }}"
    for component in ("backend", "frontend"):
        assert set(args) <= dockerfile_args(component), component
    assert w["annotations"] == "${{ steps.meta.outputs.annotations }}" and w["labels"] == "${{ steps.meta.outputs.labels }}"
    (names,) = [s for s in job["steps"] if s.get("id") == "names"]
    assert names["env"]["IMAGE_REGISTRY"] == "${{ vars.IMAGE_REGISTRY }}"
    assert "${IMAGE_REGISTRY:-ghcr.io/$OWNER}" in names["run"]
    assert "humor-game/$COMPONENT" in names["run"]


def test_the_image_names_end_as_the_gitops_tree_names_them():
    """The release pushes <registry>/humor-game/<component>; the environments' images: entries end the same way,
    which is what bump-dev-tag.sh looks for (a fork that deploys from the registry sets newName once)."""
    for env in ("dev", "staging", "prod"):
        text = (ROOT / "gitops/environments" / env / "kustomization.yaml").read_text()
        names = re.findall(r"- name: (\S+)", text)
        assert {n.rsplit("/", 2)[-2] + "/" + n.rsplit("/", 1)[-1] for n in names if "humor-game" in n} == \
            {"humor-game/backend", "humor-game/frontend"}, env


def test_the_release_opens_the_dev_pull_request_only_after_both_images_are_pushed():
    doc = workflow("release.yml")
    assert doc["jobs"]["deploy-dev"]["needs"] == "images"
    (checkout,) = [s for s in doc["jobs"]["deploy-dev"]["steps"] if s.get("uses", "").startswith("actions/checkout@")]
    assert checkout["with"]["ref"] == "${{ github.event.repository.default_branch }}"
