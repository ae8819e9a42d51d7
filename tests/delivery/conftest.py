"""Fixtures for tests/delivery (helpers: tools.py)."""
import os
import shutil

import pytest

from .tools import GIT_ENV, ROOT, git, run, write_executable


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
