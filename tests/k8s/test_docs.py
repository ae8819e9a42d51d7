"""docs/deployment.md stays true: every shell block is labelled; the `_Run in CI:_` blocks run as written in a
fresh copy of the repository; in every block, the files, scripts and object names it uses exist."""
import os
import re
import shutil
import subprocess
import textwrap

import pytest

from . import guide_replay
from .manifests import ROOT, render

DOC = ROOT / "docs" / "deployment.md"
GIT_ID = {"GIT_AUTHOR_NAME": "Docs", "GIT_AUTHOR_EMAIL": "docs@localhost",
          "GIT_COMMITTER_NAME": "Docs", "GIT_COMMITTER_EMAIL": "docs@localhost"}
# Objects of other areas or tools that the documented commands name.
EXTERNAL = {
    "service": {"prometheus", "grafana", "argocd-server"},
    "app": {"prometheus", "grafana", "cert-manager", "web"},  # web: the guide's Milestone 1 nginx
    "deployment": {"ingress-nginx-controller"},
}


def blocks():
    """[(label, language, code, line number)] for every fenced block."""
    lines = DOC.read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        m = re.match(r"^(\s*)```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        indent, lang, start = m.group(1), m.group(2), i
        j = i + 1
        while not re.match(rf"^{indent}```\s*$", lines[j]):
            j += 1
        code = textwrap.dedent("\n".join(lines[i + 1:j]))
        # The label is the first line of the paragraph right before the block.
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        while k > 0 and lines[k - 1].strip():
            k -= 1
        label = lines[k].strip() if k >= 0 else ""
        out.append((label, lang, code, start + 1))
        i = j + 1
    return out


SHELL = [b for b in blocks() if b[1] in ("bash", "sh", "shell")]
RUN = [b for b in SHELL if b[0].startswith("_Run in CI:_")]


def test_every_shell_block_says_whether_ci_runs_it():
    assert len(SHELL) >= 15
    for label, _, _, line in SHELL:
        assert label.startswith(("_Run in CI:_", "_Not run here:_")), \
            f"docs/deployment.md:{line}: label the block with _Run in CI:_ or _Not run here:_ (found {label!r})"
    for label, lang, code, line in blocks():
        if lang not in ("bash", "sh", "shell"):
            assert not re.search(r"^\s*(kubectl|scripts/|\./|docker|k3d|git) ", code, re.M), \
                f"docs/deployment.md:{line}: commands belong in a labelled bash block"
    assert len(RUN) >= 4


def fresh_copy(tmp_path):
    """A clone as a reader has it: this repository's deployment files, `main` pushed to a remote."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for d in ("k8s", "gitops", "scripts"):
        shutil.copytree(ROOT / d, repo / d, ignore=shutil.ignore_patterns("secrets.env", "__pycache__"))
    shutil.copy(ROOT / ".gitignore", repo / ".gitignore")
    env = dict(os.environ, **GIT_ID)
    remote = tmp_path / "remote.git"
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "copy"],
                ["git", "init", "-q", "--bare", str(remote)], ["git", "remote", "add", "origin", str(remote)],
                ["git", "push", "-q", "-u", "origin", "main"]):
        subprocess.run(cmd, cwd=repo, env=env, check=True, capture_output=True)
    return repo, env


@pytest.mark.parametrize("label,lang,code,line", RUN, ids=[f"line-{b[3]}" for b in RUN])
def test_run_in_ci_blocks_run_as_written(tmp_path, label, lang, code, line):
    repo, env = fresh_copy(tmp_path)
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=repo, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, f"docs/deployment.md:{line} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"


def names(kind):
    objs = render("k8s") + render("prod")
    return {o["metadata"]["name"] for o in objs if o["kind"] == kind}


def test_names_and_paths_in_every_block_exist():
    deployments, services, cronjobs, ingresses = names("Deployment"), names("Service"), names("CronJob"), names("Ingress")
    apps = {labels["app"] for o in render("k8s") if o["kind"] == "Deployment"
            for labels in [o["spec"]["template"]["metadata"]["labels"]]}
    problems = []
    for _, _, code, line in SHELL:
        where = f"docs/deployment.md:{line}"
        for path in re.findall(r"(?<![\w/.~-])((?:k8s|gitops|scripts|applications|environments|backend|frontend)/[\w./-]*)", code):
            if "$" in path or path.endswith((".pem", ".bak")) or path == "k8s/secrets.env":  # made by the commands
                continue
            if not ((ROOT / path).exists() or (ROOT / "gitops" / path).exists()):
                problems.append(f"{where}: {path} does not exist")
        for name in re.findall(r"deployment/([\w-]+)", code):
            if name not in deployments | EXTERNAL["deployment"]:
                problems.append(f"{where}: no Deployment {name}")
        for name in re.findall(r"(?:service|svc)/([\w-]+)", code):
            if name not in services | EXTERNAL["service"]:
                problems.append(f"{where}: no Service {name}")
        for name in re.findall(r"cronjob/([\w-]+)", code):
            if name not in cronjobs:
                problems.append(f"{where}: no CronJob {name}")
        for name in re.findall(r"-l app=([\w-]+)", code):
            if name not in apps | EXTERNAL["app"]:
                problems.append(f"{where}: no pods labelled app={name}")
        for name in re.findall(r"ingress ([a-z][\w-]+)", code):
            if name not in ingresses:
                problems.append(f"{where}: no Ingress {name}")
        for ns in re.findall(r"-n (humor-game[\w-]*)", code):
            if ns not in ("humor-game", "humor-game-staging", "humor-game-prod"):
                problems.append(f"{where}: unknown namespace {ns}")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------ the path and the replay agree
PATH_START, PATH_END = "## Milestone 1", "## Rotating a secret"


def commands(code):
    """A shell block as the commands a reader types: continuation lines, heredocs and loops kept whole,
    comment lines and trailing comments dropped."""
    out, lines, i = [], code.splitlines(), 0
    while i < len(lines):
        line = strip_comment(lines[i])
        i += 1
        if not line.strip():
            continue
        cmd = [line]
        heredoc = re.search(r"<<-?\s*'?(\w+)'?", line)
        if heredoc:
            while i < len(lines) and lines[i] != heredoc.group(1):
                cmd.append(lines[i])
                i += 1
            cmd.append(lines[i])
            i += 1
        elif re.match(r"(for|while)\b", line):
            while i < len(lines) and not lines[i - 1].strip().startswith("done"):
                cmd.append(strip_comment(lines[i]))
                i += 1
        else:
            while cmd[-1].endswith("\\") and i < len(lines):
                cmd.append(strip_comment(lines[i]))
                i += 1
        out.append("\n".join(cmd))
    return out


def strip_comment(line):
    """The line without a trailing `  # comment` (outside quotes)."""
    quote = None
    for j, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (j == 0 or line[j - 1] in " \t"):
            return line[:j].rstrip()
    return line.rstrip()


def path_commands():
    text = DOC.read_text()
    start, end = text.index(PATH_START), text.index(PATH_END)
    first, last = len(text[:start].splitlines()), len(text[:end].splitlines())
    return [c for _, lang, code, line in blocks() if lang in ("bash", "sh", "shell") and first < line <= last
            for c in commands(code)]


def test_the_readers_path_is_exactly_the_replayed_list():
    """docs/deployment.md from Milestone 1 to the final check, command by command, is tests/k8s/guide-replay.yaml."""
    docs = path_commands()
    replay = [s["run"].strip() for s in guide_replay.load_steps()]
    for i, (d, r) in enumerate(zip(docs, replay), 1):
        assert d == r, f"command {i} differs:\n docs:   {d!r}\n replay: {r!r}"
    assert len(docs) == len(replay), f"docs have {len(docs)} commands on the path, the replay {len(replay)}"


def test_every_deviation_from_the_guide_is_in_the_table():
    text = DOC.read_text()
    table = text[text.index("## Where we differ from the guide"):text.index(PATH_START)]
    for step in guide_replay.load_steps():
        if "guide" not in step:
            continue
        assert step.get("why"), f"step {step['number']}: a deviation says why"
        first = step["guide"].splitlines()[0]
        words = re.sub(r"\s*\\$", "", first).split()[:3]
        probe = " ".join(words)
        assert table.count(probe) >= 1, f"the table does not list the guide's `{first}` ({step['section']})"
