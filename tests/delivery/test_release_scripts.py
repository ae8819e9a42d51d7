"""The release and promote workflows' git side, run for real on scratch repositories.

The `run:` blocks of release.yml (deploy-dev) and promote.yml are executed as they are written, with the
environment GitHub would give them; only `gh` is a recording stand-in (GitHub cannot be reached from here). What
each workflow would push is then read back from the bare `origin`: the branch, the files, the diff, the message.
"""
import re

import pytest

from .tools import GIT_ENV, git, run, workflow

DEV = "gitops/environments/dev/kustomization.yaml"


def step_script(name, job, step_name):
    (step,) = [s for s in workflow(name)["jobs"][job]["steps"] if s.get("name") == step_name]
    assert "${{" not in step["run"], "values reach the script through env:, never spliced into it"
    return step["run"], step["env"]


def run_block(repo_env, script, extra_env):
    # No author from the test's environment: the block sets the identity GitHub's runs commit with.
    env = {k: v for k, v in {**repo_env["env"], **extra_env}.items() if k not in GIT_ENV}
    return run(["bash", "-eo", "pipefail", "-c", script], cwd=repo_env["repo"], env=env)


def tags(text):
    return dict(re.findall(r"name: \S+/(backend|frontend)\n\s+newTag: (\S+)", text))


def pushed(repo_env, branch):
    """(files changed, diff, message) of the one commit `branch` has on origin on top of main."""
    origin = repo_env["origin"]
    count = git(origin, "rev-list", "--count", f"main..{branch}").strip()
    assert count == "1", f"{branch} has {count} commits on top of main"
    files = git(origin, "diff", "--name-only", f"main..{branch}").split()
    diff = git(origin, "diff", "-U0", f"main..{branch}")
    message = git(origin, "log", "-1", "--format=%B", branch).strip()
    return files, diff, message


def changed_lines(diff):
    return [l for l in diff.splitlines() if l[:1] in "+-" and not l.startswith(("+++", "---"))]


# ------------------------------------------------------------------------------------------ the release
def test_release_opens_a_pull_request_moving_both_dev_images_to_the_tag(gitops_repo):
    script, env = step_script("release.yml", "deploy-dev", "Open the pull request")
    assert env["TAG"] == "${{ github.ref_name }}"
    before = tags((gitops_repo["repo"] / DEV).read_text())
    assert before == {"backend": "v1.1.0", "frontend": "v1.0.0"}

    r = run_block(gitops_repo, script, {"TAG": "v1.2.0"})
    assert r.returncode == 0, r.stdout + r.stderr

    files, diff, message = pushed(gitops_repo, "release/dev-v1.2.0")
    assert files == [DEV]
    assert changed_lines(diff) == ["-    newTag: v1.1.0", "+    newTag: v1.2.0",
                                   "-    newTag: v1.0.0", "+    newTag: v1.2.0"]
    assert message == "Deploy v1.2.0 to dev: backend v1.1.0 -> v1.2.0, frontend v1.0.0 -> v1.2.0"
    assert git(gitops_repo["origin"], "log", "-1", "--format=%an <%ae>", "release/dev-v1.2.0").strip() == \
        "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"
    calls = gitops_repo["gh_calls"]()
    assert calls[0] == ["auth", "setup-git"]
    assert calls[1][:2] == ["pr", "create"]
    args = dict(zip(calls[1][2::2], calls[1][3::2]))
    assert args["--base"] == "main" and args["--head"] == "release/dev-v1.2.0" and args["--title"] == message
    # main itself is untouched: the change waits for review.
    assert tags(git(gitops_repo["origin"], "show", f"main:{DEV}")) == before


def test_a_release_dev_already_runs_opens_nothing(gitops_repo):
    script, _ = step_script("release.yml", "deploy-dev", "Open the pull request")
    assert run_block(gitops_repo, script, {"TAG": "v1.2.0"}).returncode == 0
    # The same tag again, from main that already has it.
    git(gitops_repo["repo"], "switch", "-q", "main")
    git(gitops_repo["repo"], "merge", "-q", "--ff-only", "release/dev-v1.2.0")
    git(gitops_repo["repo"], "push", "-q", "origin", "main", ":release/dev-v1.2.0")  # merged, branch deleted
    git(gitops_repo["repo"], "branch", "-q", "-D", "release/dev-v1.2.0")  # a workflow run starts from a fresh clone
    r = run_block(gitops_repo, script, {"TAG": "v1.2.0", "GITHUB_RUN_ID": "4243"})
    assert r.returncode == 0, r.stderr
    assert "nothing to do" in r.stdout and "no pull request" in r.stdout
    assert [c[:2] for c in gitops_repo["gh_calls"]()].count(["pr", "create"]) == 1


def test_a_second_run_for_the_same_tag_refuses_instead_of_overwriting_the_branch(gitops_repo):
    script, _ = step_script("release.yml", "deploy-dev", "Open the pull request")
    assert run_block(gitops_repo, script, {"TAG": "v1.2.0"}).returncode == 0
    git(gitops_repo["repo"], "switch", "-q", "main")
    r = run_block(gitops_repo, script, {"TAG": "v1.2.0"})
    assert r.returncode != 0 and "already exists on origin" in r.stderr


@pytest.mark.parametrize("tag", ["1.2.0", "v1.2", "v1.2.0;rm -rf /", "latest", "v01.2.0"])
def test_a_malformed_tag_changes_nothing(gitops_repo, tag):
    repo = gitops_repo["repo"]
    r = run([str(repo / "scripts/release/bump-dev-tag.sh"), "--commit", tag], cwd=repo, env=gitops_repo["env"])
    assert r.returncode != 0 and "is not a release tag" in r.stderr
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "rev-parse", "HEAD") == git(repo, "rev-parse", "origin/main")


def test_the_guides_sed_would_have_missed_the_frontend_ours_moves_exactly_the_two_images(gitops_repo):
    repo = gitops_repo["repo"]
    text = (repo / DEV).read_text()
    guide = text.replace("newTag: v1.1.0", "newTag: v1.2.0")  # sed -i 's/newTag: v1.1.0/newTag: v1.2.0/g'
    assert tags(guide) == {"backend": "v1.2.0", "frontend": "v1.0.0"}
    r = run([str(repo / "scripts/release/bump-dev-tag.sh"), "v1.2.0"], cwd=repo, env=gitops_repo["env"])
    assert r.returncode == 0, r.stderr
    after = (repo / DEV).read_text()
    assert tags(after) == {"backend": "v1.2.0", "frontend": "v1.2.0"}
    # Nothing else in the file moved.
    assert [l for l in after.splitlines() if "newTag" not in l] == [l for l in text.splitlines() if "newTag" not in l]
    rendered = run(["kubectl", "kustomize", str(repo / "gitops/environments/dev")], capture_output=True, text=True)
    images = set(re.findall(r"image: (\S+)", rendered.stdout))
    assert {"localhost:5001/humor-game/backend:v1.2.0", "localhost:5001/humor-game/frontend:v1.2.0"} <= images
    assert not {i for i in images if "humor-game" in i} - {"localhost:5001/humor-game/backend:v1.2.0",
                                                             "localhost:5001/humor-game/frontend:v1.2.0"}


def test_an_environment_without_the_frontend_entry_is_refused_and_left_as_it_was(gitops_repo):
    repo = gitops_repo["repo"]
    path = repo / DEV
    broken = re.sub(r"  - name: \S+/frontend\n\s+newTag: \S+\n", "", path.read_text())
    path.write_text(broken)
    r = run([str(repo / "scripts/release/bump-dev-tag.sh"), "v1.2.0"], cwd=repo, env=gitops_repo["env"])
    assert r.returncode != 0 and "one for the frontend (found 1)" in r.stderr
    assert path.read_text() == broken


def test_commit_mode_refuses_a_dev_file_with_uncommitted_changes(gitops_repo):
    repo = gitops_repo["repo"]
    path = repo / DEV
    path.write_text(path.read_text() + "# local edit\n")
    r = run([str(repo / "scripts/release/bump-dev-tag.sh"), "--commit", "v1.2.0"], cwd=repo, env=gitops_repo["env"])
    assert r.returncode != 0 and "uncommitted changes" in r.stderr
    assert path.read_text().endswith("# local edit\n")


# ------------------------------------------------------------------------------------------ promotion
def test_promote_workflow_opens_a_pull_request_with_promote_sh_commit(gitops_repo):
    script, env = step_script("promote.yml", "promote", "Open the pull request")
    assert env["FROM"] == "${{ inputs.from }}" and env["TO"] == "${{ inputs.to }}"
    r = run_block(gitops_repo, script, {"FROM": "dev", "TO": "staging"})
    assert r.returncode == 0, r.stdout + r.stderr

    files, diff, message = pushed(gitops_repo, "promote/dev-to-staging-4242")
    assert files == ["gitops/environments/staging/kustomization.yaml"]
    assert changed_lines(diff) == ["-    newTag: v1.0.0", "+    newTag: v1.1.0"]
    assert message == "Promote dev to staging: backend v1.1.0 (was v1.0.0), frontend v1.0.0 (unchanged)"
    (create,) = [c for c in gitops_repo["gh_calls"]() if c[:2] == ["pr", "create"]]
    args = dict(zip(create[2::2], create[3::2]))
    assert args["--base"] == "main" and args["--head"] == "promote/dev-to-staging-4242"
    assert args["--title"] == message
    # --no-push: only pull-request.sh pushes, and only the new branch.
    assert git(gitops_repo["origin"], "rev-parse", "main") == git(gitops_repo["repo"], "rev-parse", "origin/main")


def test_promoting_what_is_already_there_opens_no_pull_request(gitops_repo):
    script, _ = step_script("promote.yml", "promote", "Open the pull request")
    r = run_block(gitops_repo, script, {"FROM": "staging", "TO": "prod"})
    assert r.returncode == 0, r.stderr
    assert "nothing to do" in r.stdout
    assert not [c for c in gitops_repo["gh_calls"]() if c[:2] == ["pr", "create"]]
    assert git(gitops_repo["origin"], "branch", "--list", "promote/*").strip() == ""


def test_the_promote_workflow_offers_only_forward_promotions():
    inputs = workflow("promote.yml")["on"]["workflow_dispatch"]["inputs"]
    assert inputs["from"]["options"] == ["dev", "staging"] and inputs["to"]["options"] == ["staging", "prod"]


def test_an_entry_pointing_at_another_registry_keeps_its_name_and_gets_the_tag(gitops_repo):
    """docs/delivery.md: a fork deploying the released images adds newName to the entries once."""
    repo = gitops_repo["repo"]
    path = repo / DEV
    text = re.sub(r"(  - name: localhost:5001/humor-game/(backend|frontend)\n)",
                  r"\1    newName: ghcr.io/example/humor-game/\2\n", path.read_text())
    path.write_text(text)
    r = run([str(repo / "scripts/release/bump-dev-tag.sh"), "v1.2.0"], cwd=repo, env=gitops_repo["env"])
    assert r.returncode == 0, r.stderr
    rendered = run(["kubectl", "kustomize", str(repo / "gitops/environments/dev")]).stdout
    images = set(re.findall(r"image: (\S+humor-game\S+)", rendered))
    assert images == {"ghcr.io/example/humor-game/backend:v1.2.0", "ghcr.io/example/humor-game/frontend:v1.2.0"}
