"""Recording stand-ins for command-line tools, for tests of scripts that drive a cluster (scripts/cluster.sh,
scripts/guide/run-guide.py). A plain module: import it, no fixtures.

    tools = RecordingTools(tmp_path, ["k3d", "kubectl", "docker"])
    tools.answer("k3d", r"^cluster list", stdout='[{"name": "dev-cluster"}]')
    subprocess.run([...], env=tools.env())
    tools.calls()          # [("k3d", ["cluster", "list", "-o", "json"], "cluster.sh"), ...]

Every call is appended to a log as (tool, arguments, caller): the caller is the script that ran the tool (the
first `*.sh` or `*.py` on its parent process's command line, else the parent's program name), so a test can
tell the calls a script makes from those of the scripts it runs. The first rule whose regular expression
matches the space-joined arguments answers (stdout, stderr, exit status; see `answer`); a call no rule matches
succeeds silently. `kubectl kustomize` is recorded, then runs the real kubectl: rendering needs no cluster.
"""
import json
import os
import shutil
import sys
from pathlib import Path

FAKE = r'''#!__PYTHON__
import json, os, re, sys
tool = os.path.basename(sys.argv[0])
args = sys.argv[1:]
try:
    with open(f"/proc/{os.getppid()}/cmdline", "rb") as f:
        parent = [w.decode() for w in f.read().split(b"\0") if w]
except OSError:
    parent = []
caller = next((os.path.basename(w) for w in parent if w.endswith((".sh", ".py"))),
              os.path.basename(parent[0]) if parent else "?")
rendering = tool == "kubectl" and args[:1] == ["kustomize"]
stdin = "" if rendering or sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
with open(os.environ["RECORDING_LOG"], "a") as log:
    log.write(json.dumps({"tool": tool, "args": args, "caller": caller, "stdin": stdin}) + "\n")
if rendering:
    os.execv(os.environ["REAL_KUBECTL"], ["kubectl", *args])
with open(os.environ["RECORDING_RULES"]) as f:
    rules = json.load(f)
for number, rule in enumerate(rules.get(tool, [])):
    if not re.search(rule["match"], " ".join(args)):
        continue
    if rule.get("times") is not None:
        counter = f'{os.environ["RECORDING_LOG"]}.{tool}.{number}.count'
        used = int(open(counter).read()) if os.path.exists(counter) else 0
        if used >= rule["times"]:
            continue
        open(counter, "w").write(str(used + 1))
    sys.stdout.write(rule.get("stdout", ""))
    sys.stderr.write(rule.get("stderr", ""))
    sys.stdout.flush()
    if rule.get("listen"):
        import socket
        server = socket.create_server(("127.0.0.1", rule["listen"]))
        while True:
            server.accept()[0].close()
    sys.exit(rule.get("exit", 0))
'''


class RecordingTools:
    def __init__(self, folder, tools):
        self.folder = Path(folder)
        self.bin = self.folder / "recording-bin"
        self.bin.mkdir(parents=True)
        self.log = self.folder / "recording.log"
        self.rules_file = self.folder / "recording-rules.json"
        self.rules = {}
        for tool in tools:
            path = self.bin / tool
            path.write_text(FAKE.replace("__PYTHON__", sys.executable))
            path.chmod(0o755)
        self._save()

    def answer(self, tool, match, stdout="", stderr="", exit=0, times=None, listen=None):
        """Adds a rule (earlier rules win). `times`: it answers only the first N matching calls. `listen`: the
        tool then keeps running, accepting connections on that local port (as `kubectl port-forward` does)."""
        self.rules.setdefault(tool, []).append({"match": match, "stdout": stdout, "stderr": stderr, "exit": exit,
                                                "times": times, "listen": listen})
        self._save()

    def _save(self):
        self.rules_file.write_text(json.dumps(self.rules))

    def env(self, **extra):
        real_kubectl = shutil.which("kubectl")
        assert real_kubectl, "kubectl (for kustomize) is required"
        return {**os.environ, "PATH": f"{self.bin}:{os.environ['PATH']}", "RECORDING_LOG": str(self.log),
                "RECORDING_RULES": str(self.rules_file), "REAL_KUBECTL": real_kubectl, **extra}

    def records(self):
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def calls(self, caller=None):
        """[(tool, args)] in order; only those made by `caller` (a script's file name) when given."""
        return [(r["tool"], r["args"]) for r in self.records() if caller is None or r["caller"] == caller]

    def clear(self):
        self.log.unlink(missing_ok=True)
