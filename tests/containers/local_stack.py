"""The container tests' view of the repository and of the local stack that `scripts/local-stack.sh up` starts:
the proxy nginx on :3000, the frontend nginx on :8080, two real backend processes on 127.0.0.2/127.0.0.3:3001,
PostgreSQL and Redis; HTTP requests that keep repeated headers; the files of the frontend image."""
import http.client
import json
import os
import re
import shutil
import subprocess

import pytest

from harness import wait_for


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROXY = ("127.0.0.1", 3000)
FRONTEND = ("127.0.0.1", 8080)
STATE = os.environ.get("LOCAL_STACK_DIR", os.path.join(ROOT, "target", "local-stack"))
IN_CI = os.environ.get("CI") == "true"


def repo_path(*parts):
    return os.path.join(ROOT, *parts)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.header_list = headers  # [(name, value)], repeated headers kept
        self.body = body

    def all(self, name):
        return [v for k, v in self.header_list if k.lower() == name.lower()]

    def get(self, name):
        values = self.all(name)
        return values[0] if values else None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.header_list} {self.body[:200]!r}>"


def request(addr, method, path, headers=None, body=None, timeout=20):
    conn = http.client.HTTPConnection(*addr, timeout=timeout)
    try:
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        hdrs = dict(headers or {})
        if data is not None and "Content-Type" not in hdrs:
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        return Response(resp.status, resp.getheaders(), resp.read())
    finally:
        conn.close()


def which(tool):
    """A tool the tests need: in CI its absence is a failure, never a skip."""
    path = shutil.which(tool)
    if not path:
        pytest.fail(f"{tool} is not installed (.ci/steps/30-containers.sh installs it)")
    return path


class FrontendImage:
    """The files frontend/Dockerfile adds to its nginx base, from carrying out its steps (image_build.py)."""

    def __init__(self, root):
        self.root = root
        self.html = os.path.join(root, "usr", "share", "nginx", "html")
        versions = os.listdir(os.path.join(self.html, "static"))
        assert len(versions) == 1, f"the image holds one asset version under static/, not {versions}"
        self.version = versions[0]

    def files(self):
        """Every file under the document root, relative to it, '/'-separated."""
        out = []
        for base, _dirs, names in os.walk(self.html):
            out += [os.path.relpath(os.path.join(base, n), self.html).replace(os.sep, "/") for n in names]
        return sorted(out)

    def read(self, rel):
        with open(os.path.join(self.html, rel), "rb") as f:
            return f.read()


def answers_ok(addr, path):
    try:
        return request(addr, "GET", path, timeout=3).status == 200
    except OSError:
        return False


class Stack:
    def __init__(self, state):
        self.state = state
        self.proxy_log = os.path.join(state, "logs", "proxy.access.log")

    def pid(self, name):
        with open(os.path.join(self.state, "pids", f"{name}.pid"), encoding="utf-8") as f:
            return int(f.read().split("\t")[0])

    def proxy_entry(self, request_id, timeout=5.0):
        """The proxy's access-log line for one request (by X-Request-Id)."""
        def logged():
            with open(self.proxy_log, encoding="utf-8") as f:
                for line in f:
                    if request_id in line:
                        entry = json.loads(line)
                        if entry["request_id"] == request_id:
                            return entry
            return None

        return wait_for(f"request {request_id} in the proxy log", logged, timeout)

    def reload_proxy(self):
        """SIGHUP: new workers with fresh upstream state (which replica failed last), same config."""
        master = self.pid("proxy")
        before = set(_children(master))
        os.kill(master, 1)

        def replaced():
            now = set(_children(master))
            return now and not (now & before)

        wait_for("the proxy's workers to be replaced after SIGHUP", replaced, 10)

    def script(self, *args):
        subprocess.run([repo_path("scripts", "local-stack.sh"), *args], check=True,
                       env={**os.environ, "LOCAL_STACK_DIR": self.state})


def _children(pid):
    """The nginx worker processes of a master (its other children are the log relays)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat", encoding="utf-8") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    worker = f.read().startswith(b"nginx: worker")
                if int(fields[1]) == pid and worker:
                    out.append(int(d))
            except OSError:
                pass
    return out


def strip_comments(text):
    return re.sub(r"#[^\n]*", "", text)
