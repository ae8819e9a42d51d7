#!/usr/bin/env python3
"""Runs the guide's commands for real, in order, as a reader would: tests/k8s/guide-replay.yaml, the same list
the cluster model replays (tests/k8s/test_guide_replay.py), against whatever `k3d`, `kubectl`, `docker`,
`argocd`, `curl`, `mkcert` and `sudo` are first on PATH.

    scripts/guide/run-guide.py --workdir /tmp/guide [--final-check]

What the runner provides, as the list's header asks (everything lives under --workdir):
- repo/    a reader's clone of this checkout (tracked and untracked files, as the model's sandbox has them),
           on branch main, with origin = remote/humor-memory-game.git, a bare repository it can push to;
- home/    HOME for every step (k3d writes home/.kube/config there: later tools need KUBECONFIG=that file);
- steps/   each step's stdout and stderr (N.out, N.err), and summary.txt, one line per step;
- a git server: remote/ served read-only over git's smart HTTP on --git-bind (default 0.0.0.0), so Argo CD
  inside the cluster can clone it as http://host.k3d.internal:PORT/humor-memory-game.git; the guide's fork
  URL (https://github.com/you/humor-memory-game.git) is replaced by that one in every command.
  --no-git-server leaves the URL alone (the cluster model reads the bare repository directly).

Each step runs in one bash session (cwd, variables and background jobs carry over) and must meet its
`expect` and `output`; the first that does not stops the run (exit status 1) with its output. Steps marked
`needs: public-host` (Track C) are left out. A person typing is slower than a script in two places, and the
runner waits as they would, never longer than a deadline: after a background `kubectl port-forward ... &`
until the local port accepts connections (--background alive, the default; `wait` takes the background
command's exit status instead, for the model), and when `kubectl wait ... -l` finds no pod yet because the
Deployment applied just before has not created one ("no matching resources found"), it tries again.

--final-check then runs scripts/production-test.sh once more for the three environments' Applications
(the guide's own final check looks at dev only), while the port-forwards and the git server still run.
"""
import argparse
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
GUIDE_DATA = ROOT / "tests" / "k8s" / "guide-replay.yaml"
RUNNER_MODULE = ROOT / "tests" / "k8s" / "guide_replay.py"
FORK_URL = "https://github.com/you/humor-memory-game.git"
REPOSITORY = "humor-memory-game.git"
ALL_APPS = "humor-game-dev humor-game-staging humor-game-prod"
FINAL_CHECK = f'ARGOCD_APPS="{ALL_APPS}" scripts/production-test.sh'
READER = {"GIT_AUTHOR_NAME": "Reader", "GIT_AUTHOR_EMAIL": "reader@localhost",
          "GIT_COMMITTER_NAME": "Reader", "GIT_COMMITTER_EMAIL": "reader@localhost"}
NO_POD_YET = "no matching resources found"

sys.path.insert(0, str(HERE))
import git_http_server  # noqa: E402


def load_runner():
    """tests/k8s/guide_replay.py: the session and the step checks the model's replay uses."""
    spec = importlib.util.spec_from_file_location("guide_replay", RUNNER_MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def git(args, cwd, env):
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"run-guide: git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def reader_clone(workdir, env):
    """A copy of this checkout committed on main and pushed to a bare origin; returns (repo, remote)."""
    repo, remote = workdir / "repo", workdir / "remote" / REPOSITORY
    if repo.exists() or remote.exists():
        raise SystemExit(f"run-guide: {workdir} is not empty; give a new --workdir")
    files = git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT, env).split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    remote.parent.mkdir(parents=True)
    git(["init", "-q", "-b", "main"], repo, env)
    git(["add", "-A"], repo, env)
    git(["commit", "-q", "-m", "A reader's clone"], repo, env)
    git(["init", "-q", "-b", "main", "--bare", str(remote)], repo, env)
    git(["remote", "add", "origin", str(remote)], repo, env)
    git(["push", "-q", "-u", "origin", "main"], repo, env)
    return repo, remote


def forwarded_port(command):
    """The local port of a `kubectl port-forward ... LOCAL:REMOTE &` step, else None."""
    if "port-forward" not in command:
        return None
    match = re.search(r"\s(\d+):\d+\b", command)
    return int(match.group(1)) if match else None


def wait_for_port(port, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(1)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


class Guide:
    def __init__(self, runner, session, summary, background, port_wait, retry_wait):
        self.runner, self.session, self.summary = runner, session, summary
        self.background, self.port_wait, self.retry_wait = background, port_wait, retry_wait

    def run(self, step):
        started = time.monotonic()
        outcome = self.session.run(step["run"])
        problem = outcome.meets(step)
        deadline = started + self.retry_wait
        while problem and NO_POD_YET in outcome.stderr and step["run"].startswith("kubectl wait") \
                and time.monotonic() < deadline:
            time.sleep(2)
            outcome = self.session.run(step["run"])
            problem = outcome.meets(step)
        port = forwarded_port(step["run"]) if self.runner.is_background(step["run"]) else None
        if not problem and port and self.background == "alive" and not wait_for_port(port, self.port_wait):
            problem = f"nothing listens on localhost:{port} {self.port_wait}s after the port-forward started"
        seconds = time.monotonic() - started
        first_line = step["run"].strip().splitlines()[0]
        line = f"{'FAIL' if problem else 'ok':4}  {step['number']:3}  {step['section']:5}  {seconds:6.1f}s  {first_line}"
        print(line, flush=True)
        self.summary.write(line + "\n")
        self.summary.flush()
        return outcome, problem


def arguments():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", required=True, type=Path, help="a new folder for the clone, HOME and the logs")
    p.add_argument("--steps", type=Path, default=GUIDE_DATA, help="the command list (default: the guide's)")
    p.add_argument("--final-check", action="store_true",
                   help="then run scripts/production-test.sh for the dev, staging and prod Applications")
    p.add_argument("--no-git-server", action="store_true", help="do not serve the clone nor replace the fork URL")
    p.add_argument("--git-bind", default="0.0.0.0", help="address the git server listens on")
    p.add_argument("--git-host", default="host.k3d.internal", help="the host name the cluster reaches it by")
    p.add_argument("--background", choices=("alive", "wait"), default="alive",
                   help="alive: a background step must keep running (and a port-forward listen); "
                        "wait: its exit status counts (the cluster model)")
    p.add_argument("--port-wait", type=int, default=60, help="seconds a port-forward may take to listen")
    p.add_argument("--retry-wait", type=int, default=120,
                   help="seconds a `kubectl wait -l` may keep finding no pod")
    return p.parse_args()


def main():
    args = arguments()
    runner = load_runner()
    steps = [s for s in runner.load_steps(args.steps) if s.get("needs") != "public-host"]
    workdir = args.workdir.resolve()
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = runner.environment({**READER, "HOME": str(home)})
    repo, remote = reader_clone(workdir, env)

    server = None
    if not args.no_git_server:
        server = git_http_server.serve(remote.parent, bind=args.git_bind, port=0)
        url = f"http://{args.git_host}:{server.server_address[1]}/{REPOSITORY}"
        print(f"serving {remote} as {url} (in place of {FORK_URL})", flush=True)
        for step in steps:
            step["run"] = step["run"].replace(FORK_URL, url)
    if args.final_check:
        steps.append({"number": len(steps) + 1, "section": "check", "run": FINAL_CHECK, "output": "0 failed"})

    session = runner.Session(repo, env, workdir / "steps", background="wait" if args.background == "wait" else "alive")
    failed = None
    try:
        with open(workdir / "steps" / "summary.txt", "w") as summary:
            guide = Guide(runner, session, summary, args.background, args.port_wait, args.retry_wait)
            for step in steps:
                outcome, problem = guide.run(step)
                if problem:
                    failed = (step, outcome, problem)
                    break
    finally:
        session.close()
        if server:
            server.shutdown()
    if failed:
        print("\n" + runner.report([failed]), file=sys.stderr)
        print(f"\nrun-guide: stopped at step {failed[0]['number']}; every step's output is in {workdir / 'steps'}",
              file=sys.stderr)
        return 1
    print(f"\nrun-guide: {len(steps)} steps passed; KUBECONFIG={home / '.kube' / 'config'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
