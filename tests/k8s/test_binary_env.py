"""The real binary, run with exactly the environment each rendered backend pod and migration Job would get
(config map + env + Secret keys), against the local PostgreSQL and a password-protected redis-server of our
own; only the addresses are local (DB_HOST/REDIS_HOST/ports, HOST, PORT) and DB_USER (the local server's
role). It must start and report healthy, drain on SIGTERM as the manifests assume, migrate idempotently,
and refuse prod with the guide's demo secrets."""
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from harness import GameServer, RedisServer, free_port, free_ports, wait_for

from .manifests import ENVIRONMENTS, find, render

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


def pod_env(objs, kind, name, secret_values, database, redis_port, server_port):
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
               REDIS_HOST="127.0.0.1", REDIS_PORT=str(redis_port), HOST="127.0.0.1", PORT=str(server_port))
    return {"PATH": os.environ["PATH"], **env}, rendered, c, spec


def get(server, path):
    try:
        with urllib.request.urlopen(f"{server.url}{path}", timeout=3) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@pytest.mark.parametrize("name", ["k8s"] + list(ENVIRONMENTS))
def test_each_environment_starts_migrates_and_drains(binary, database, tmp_path, name):
    objs = render(name)
    values = STRONG if name == "prod" else DEMO
    redis = RedisServer(tmp_path / "redis", password=values["REDIS_PASSWORD"]).start()
    server_port = free_port()
    try:
        if name != "k8s":
            env, _, c, _ = pod_env(objs, "Job", "backend-migrate", values, database, redis.port, server_port)
            for _ in range(2):  # idempotent
                out = subprocess.run([binary, c["command"][-1]], env=env, capture_output=True, text=True, timeout=60)
                assert out.returncode == 0, out.stderr
        env, rendered, c, spec = pod_env(objs, "Deployment", "backend", values, database, redis.port, server_port)
        assert rendered["HOST"] == "0.0.0.0" and rendered["PORT"] == "3001"
        server = GameServer(binary, env, port=server_port, command=c["command"][-1], log=tmp_path / "server.log")
        try:
            server.start()
            status, health = get(server, "/api/health")
            assert status == 200 and health["status"] == "healthy", health
            assert health["storage"] == {"database": "postgres", "liveGames": "redis"}
            assert health["environment"] == rendered["NODE_ENV"] == "production"
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                assert get(server, c[probe]["httpGet"]["path"])[0] == 200
            t0 = time.monotonic()
            server.proc.signal(signal.SIGTERM)
            # Draining: readiness fails at once (so the Service stops sending traffic) while the pod still serves.
            ready = c["readinessProbe"]["httpGet"]["path"]
            wait_for("readiness to report draining", lambda: get(server, ready)[0] == 503, 10)
            assert get(server, ready) == (503, {"status": "not_ready", "reason": "draining"})
            assert get(server, c["livenessProbe"]["httpGet"]["path"])[0] == 200, "still serving during the drain"
            rc = server.proc.wait(spec["terminationGracePeriodSeconds"])
            assert rc == 0, f"no clean exit within terminationGracePeriodSeconds: {server.proc.log_tail()}"
            # A figure for the log, not an assertion: on a shared machine the clock says little.
            print(f"{name}: drained and exited {time.monotonic() - t0:.1f}s after SIGTERM "
                  f"(DRAIN_DELAY_SECONDS={rendered['DRAIN_DELAY_SECONDS']})")
        finally:
            server.stop()
    finally:
        redis.stop()


def test_prod_refuses_the_guides_demo_secrets(binary, database):
    env, _, c, _ = pod_env(render("prod"), "Deployment", "backend", DEMO, database, *free_ports(2))
    assert env["REQUIRE_STRONG_SECRETS"] == "true"
    out = subprocess.run([binary, c["command"][-1]], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "REQUIRE_STRONG_SECRETS" in out.stderr
