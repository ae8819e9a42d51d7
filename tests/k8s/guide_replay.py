"""Runs the guide's commands (tests/k8s/guide-replay.yaml) in order, in one shell, as a reader would.

The runner knows nothing of clusters: whichever `kubectl`, `k3d`, `docker`, `curl` ... are first on PATH
answer. tests/k8s/test_guide_replay.py puts the cluster model's shims there (cluster_model.py); a runner
against a real k3d cluster uses this module with the real tools and `background="alive"`.

Each step runs in the same bash session (its cwd, variables and background jobs carry over, as in a
terminal) with `set -o pipefail`, its own stdin closed, and its output kept. A step ending in `&` starts a
background process: it succeeds when that process keeps running. With the model, whose port-forward
registers the forward and exits at once (0, or 1 as kubectl does when the port is taken), the runner
collects the background job's exit status (`background="wait"`); against a real cluster it checks the
process is still alive once the next step may use it (`background="alive"`).
"""
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parent / "guide-replay.yaml"


def load_steps(path=DATA):
    data = yaml.safe_load(Path(path).read_text())
    steps = data["steps"]
    for i, step in enumerate(steps, 1):
        step["number"] = i
        unknown = set(step) - {"section", "run", "expect", "output", "guide", "why", "added", "needs",
                               "guide_fails", "number"}
        assert not unknown, f"step {i}: unknown fields {unknown}"
        assert step["section"] and step["run"].strip(), f"step {i}: section and run are required"
    return steps


def is_background(command):
    text = command.rstrip()
    return text.endswith("&") and not text.endswith("&&")


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    def meets(self, step):
        """None when the outcome is what the step expects, else what differs."""
        expect = step.get("expect", "succeeds")
        if expect == "succeeds":
            ok = self.code == 0
        elif expect == "fails":
            ok = self.code != 0
        else:
            ok = self.code == int(expect)
        if not ok:
            return f"expected {expect}, got exit status {self.code}"
        if step.get("output") and step["output"] not in self.stdout:
            return f"expected output containing {step['output']!r}"
        return None


class Session:
    """One bash process fed the steps on stdin; each step's output goes to files, its status comes back
    on the session's stdout after a marker."""

    def __init__(self, cwd, env, workdir, background="wait"):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.background = background
        self.marker = f"__step_done_{uuid.uuid4().hex}__"
        self.proc = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=cwd, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(self.dir / "session.err", "w"))
        self._send("set -o pipefail")
        self.count = 0

    def _send(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def _status(self):
        for line in self.proc.stdout:
            if line.startswith(self.marker):
                return int(line.split()[1])
        raise RuntimeError(f"the shell ended early; see {self.dir / 'session.err'}")

    def run(self, command):
        self.count += 1
        out, err = self.dir / f"{self.count}.out", self.dir / f"{self.count}.err"
        self._send(f"{{\n{command}\n}} >'{out}' 2>'{err}' </dev/null\necho \"{self.marker} $?\"")
        code = self._status()
        if is_background(command):
            if self.background == "wait":
                self._send(f"wait $!; echo \"{self.marker} $?\"")
            else:
                self._send(f"kill -0 $! 2>/dev/null; echo \"{self.marker} $?\"")
            code = self._status()
        return Outcome(code, out.read_text(), err.read_text())

    def close(self):
        self._send("kill $(jobs -p) 2>/dev/null; exit 0")
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def replay(steps, session, before_step=None):
    """Runs the steps; returns [(step, outcome, problem or None)]. `before_step(step)` may run first
    (the model uses it to show where the guide's own command fails)."""
    results = []
    for step in steps:
        if before_step:
            before_step(step)
        outcome = session.run(step["run"])
        results.append((step, outcome, outcome.meets(step)))
    return results


def report(results):
    lines = []
    for step, outcome, problem in results:
        if problem:
            lines.append(f"step {step['number']} (guide {step['section']}): {step['run'].strip()}\n"
                         f"  {problem}\n  stderr: {outcome.stderr.strip()[-600:]}\n  stdout: {outcome.stdout.strip()[-300:]}")
    return "\n".join(lines)


def environment(extra):
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NAMESPACE", "APP_URL", "ARGOCD_APPS")}
    env.update(extra)
    return env
