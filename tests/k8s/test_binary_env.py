"""The real binary, run with exactly the environment each rendered backend pod and migration Job would get
(config map + env + Secret keys), against the local PostgreSQL and a password-protected redis-server of our
own; only the addresses are local (DB_HOST/REDIS_HOST/ports, HOST, PORT) and DB_USER (the local server's
role). It must start and report healthy, drain on SIGTERM as the manifests assume, migrate idempotently,
and refuse prod with the guide's demo secrets."""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from .manifests import ENVIRONMENTS, find, render

SERVER_PORT, REDIS_PORT = 3203, 3202  # this area's range is 3200-3299
DEMO = {"DB_PASSWORD": "gamepass123", "REDIS_PASSWORD": "gamepass123", "JWT_SECRET": "your-super-secret-jwt-key"}
STRONG = {"DB_PASSWORD": secrets.token_hex(24), "REDIS_PASSWORD": secrets.token_hex(24), "JWT_SECRET": secrets.token_hex(32)}


@pytest.fixture(scope="module")
def binary():
    path = os.environ.get("HMG_BIN")
    if not path:
        if os.environ.get("CI"):
            pytest.fail("HMG_BIN must be set in CI")
        pytest.skip("HMG_BIN is not set: the binary is needed to run the pods' environment")
    return path


@pytest.fixture(scope="module")
def database():
    name = f"hmg_k8s_{secrets.token_hex(4)}"
    pg = dict(os.environ, PGHOST="127.0.0.1", PGUSER="postgres")
    subprocess.run(["psql", "-qc", f"CREATE DATABASE {name}"], env=pg, check=True, capture_output=True)
    yield name
    subprocess.run(["psql", "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], env=pg, capture_output=True)


def port_free(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


class Redis:
    def __init__(self, password, tmp):
        if not shutil.which("redis-server"):
            pytest.fail("redis-server is required")
        assert port_free(REDIS_PORT), f"port {REDIS_PORT} is in use"
        self.proc = subprocess.Popen(["redis-server", "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.proc.stdin.write(f'port {REDIS_PORT}\nbind 127.0.0.1\nsave ""\nappendonly no\ndir {tmp}\n'
                              f'requirepass "{password}"\n'.encode())
        self.proc.stdin.close()
        for _ in range(50):
            if not port_free(REDIS_PORT):
                return
            time.sleep(0.1)
        pytest.fail("redis-server did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def pod_env(objs, kind, name, secret_values, database):
    obj = find(objs, kind, name)
    spec = obj["spec"]["template"]["spec"]
    c = spec["containers"][0]
    env = {}
    for src in c.get("envFrom") or []:
        env.update(find(objs, "ConfigMap", src["configMapRef"]["name"])["data"])
    for e in c.get("env") or []:
        if "value" in e:
            env[e["name"]] = e["value"]
        else:
            env[e["name"]] = secret_values[e["valueFrom"]["secretKeyRef"]["key"]]
    rendered = dict(env)
    env.update(DB_HOST="127.0.0.1", DB_PORT="5432", DB_NAME=database, DB_USER="postgres",
               REDIS_HOST="127.0.0.1", REDIS_PORT=str(REDIS_PORT), HOST="127.0.0.1", PORT=str(SERVER_PORT))
    return {"PATH": os.environ["PATH"], **env}, rendered, c, spec


def get(path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{SERVER_PORT}{path}", timeout=3) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_ready(proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        try:
            if get("/health/ready")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail("the server never became ready")


@pytest.mark.parametrize("name", ["k8s"] + list(ENVIRONMENTS))
def test_each_environment_starts_migrates_and_drains(binary, database, tmp_path, name):
    objs = render(name)
    values = STRONG if name == "prod" else DEMO
    assert port_free(SERVER_PORT), f"port {SERVER_PORT} is in use"
    redis = Redis(values["REDIS_PASSWORD"], tmp_path)
    try:
        if name != "k8s":
            env, _, c, _ = pod_env(objs, "Job", "backend-migrate", values, database)
            for _ in range(2):  # idempotent
                out = subprocess.run([binary, c["command"][-1]], env=env, capture_output=True, text=True, timeout=60)
                assert out.returncode == 0, out.stderr
        env, rendered, c, spec = pod_env(objs, "Deployment", "backend", values, database)
        assert rendered["HOST"] == "0.0.0.0" and rendered["PORT"] == "3001"
        proc = subprocess.Popen([binary, c["command"][-1]], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_ready(proc)
            status, health = get("/api/health")
            assert status == 200 and health["status"] == "healthy", health
            assert health["storage"] == {"database": "postgres", "liveGames": "redis"}
            assert health["environment"] == rendered["NODE_ENV"] == "production"
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                assert get(c[probe]["httpGet"]["path"])[0] == 200
            t0 = time.time()
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert get(c["readinessProbe"]["httpGet"]["path"]) == (503, {"status": "not_ready", "reason": "draining"})
            assert get(c["livenessProbe"]["httpGet"]["path"])[0] == 200, "still serving during the drain"
            proc.wait(timeout=spec["terminationGracePeriodSeconds"])
            took = time.time() - t0
            assert proc.returncode == 0
            drain = int(rendered["DRAIN_DELAY_SECONDS"])
            assert drain - 0.5 <= took < spec["terminationGracePeriodSeconds"], took
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        redis.stop()


def test_prod_refuses_the_guides_demo_secrets(binary, database):
    env, _, c, _ = pod_env(render("prod"), "Deployment", "backend", DEMO, database)
    assert env["REQUIRE_STRONG_SECRETS"] == "true"
    out = subprocess.run([binary, c["command"][-1]], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "REQUIRE_STRONG_SECRETS" in out.stderr
