"""Shared helpers for tests/delivery: the workflows as data, the tools from the venv, scratch git repositories."""
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
sys.path.insert(0, str(Path(__file__).parent))


def tool(name):
    """A tool the step installs (venv first, then PATH). Missing is a failure, never a skip."""
    venv = Path(sys.executable).parent / name
    if venv.exists():
        return str(venv)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed (.ci/steps/45-delivery.sh installs it)")
    return found


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 300)
    return subprocess.run(cmd, **kw)


def workflow(name):
    # PyYAML reads the key `on` as True (YAML 1.1); keep the workflow's own spelling.
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def all_workflows():
    return {p.name: workflow(p.name) for p in sorted(WORKFLOWS.glob("*.yml"))}


def git(repo, *args, check=True):
    r = run(["git", "-C", str(repo), *args])
    if check and r.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {r.stderr}")
    return r.stdout


GIT_ENV = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid"}


def write_executable(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def gitops_repo(tmp_path):
    """A scratch clone of what the release and promote workflows touch (gitops/, k8s/, scripts/release/, as in the
    work tree), on branch main, with a bare `origin`; and a recording `gh` first on PATH, since GitHub itself
    cannot be reached from here (git, kubectl and the scripts are the real ones)."""
    origin = tmp_path / "origin.git"
    repo = tmp_path / "repo"
    repo.mkdir()
    for part in ("gitops", "k8s", "scripts/release"):
        for rel in git(ROOT, "ls-files", "--", part).split():
            src = ROOT / rel
            if src.exists():  # deleted in the work tree but not yet committed
                dst = repo / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
    for rel in git(ROOT, "ls-files", "--others", "--exclude-standard", "--", "scripts/release").split():
        dst = repo / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dst)
    env = {**os.environ, **GIT_ENV}
    run(["git", "init", "-q", "-b", "main", str(repo)], check=True, env=env)
    run(["git", "-C", str(repo), "add", "-A"], check=True, env=env)
    run(["git", "-C", str(repo), "commit", "-q", "-m", "initial"], check=True, env=env)
    run(["git", "init", "-q", "--bare", str(origin)], check=True, env=env)
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "-u", "origin", "main")

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "gh-calls.txt"
    write_executable(bin_dir / "gh", f"""#!/usr/bin/env bash
# Records every call (one line, arguments NUL-separated) and answers like the GitHub CLI would.
printf '%s\\0' "$@" >>{calls}
printf '\\n' >>{calls}
case "$1 $2" in
  "auth setup-git") exit 0 ;;
  "pr create") echo "https://github.com/example/humor-memory-game/pull/7" ;;
  *) echo "fake gh: unexpected call: $*" >&2; exit 1 ;;
esac
""")

    def gh_calls():
        if not calls.exists():
            return []
        return [line.rstrip("\0").split("\0") for line in calls.read_text().splitlines() if line]

    env = {**os.environ, **GIT_ENV, "PATH": f"{bin_dir}:{os.environ['PATH']}", "GH_TOKEN": "not-a-real-token",
           "GITHUB_RUN_ID": "4242"}
    return {"repo": repo, "origin": origin, "env": env, "gh_calls": gh_calls}
