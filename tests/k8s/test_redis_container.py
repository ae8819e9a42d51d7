"""The redis container's own command and probes, run for real with the machine's redis-server in a private
network namespace (so port 6379 is free there): the password arrives on stdin and never shows in the
process list, unauthenticated clients are refused, the probes pass only with REDISCLI_AUTH, the memory cap
is set, and the append-only file survives a restart."""
import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from .manifests import find, render

DRIVER = textwrap.dedent('''
    import json, os, signal, subprocess, sys, time
    cmd, probe, datadir = json.loads(sys.argv[1])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    password = "pw-" + os.urandom(8).hex()
    env = dict(os.environ, REDIS_PASSWORD=password, REDISCLI_AUTH=password)
    result = {}

    def start():
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(100):
            if subprocess.run(probe, env=env).returncode == 0:
                return p
            time.sleep(0.1)
        raise SystemExit("redis never passed its startup probe: " + p.stdout.read1().decode())

    def cli(*args, auth=True):
        e = env if auth else {k: v for k, v in env.items() if k != "REDISCLI_AUTH"}
        return subprocess.run(["redis-cli", "-h", "127.0.0.1", *args], env=e, capture_output=True, text=True).stdout.strip()

    p = start()
    result["cmdline"] = open(f"/proc/{p.pid}/cmdline").read().replace("\\0", " ")
    result["unauthenticated"] = cli("ping", auth=False)
    result["probe_without_auth"] = subprocess.run(probe, env={k: v for k, v in env.items() if k != "REDISCLI_AUTH"}).returncode
    result["maxmemory"] = cli("config", "get", "maxmemory").splitlines()[-1]
    result["policy"] = cli("config", "get", "maxmemory-policy").splitlines()[-1]
    result["appendonly"] = cli("config", "get", "appendonly").splitlines()[-1]
    result["dir"] = cli("config", "get", "dir").splitlines()[-1]
    cli("set", "hmg:test", "kept")
    p.send_signal(signal.SIGTERM)
    result["exit"] = p.wait(timeout=20)
    p = start()
    result["after_restart"] = cli("get", "hmg:test")
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=20)
    result["password"] = password
    print(json.dumps(result))
''')


def test_redis_command_and_probes_work_with_a_real_redis_server(tmp_path):
    for tool in ("redis-server", "redis-cli", "unshare", "ip"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is required for this test")
    dep = find(render("k8s"), "Deployment", "redis")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    script = c["args"][0]
    assert c["command"] == ["sh", "-c"] and script.count("--dir /data ") == 1
    assert {m["mountPath"] for m in c["volumeMounts"]} >= {"/data"}
    # The only change: the data directory, which is a volume in the pod.
    cmd = c["command"] + [script.replace("--dir /data ", f"--dir {tmp_path} ")]
    probe = c["startupProbe"]["exec"]["command"]
    assert probe == c["readinessProbe"]["exec"]["command"] == c["livenessProbe"]["exec"]["command"]
    env_names = {e["name"] for e in c["env"]}
    assert env_names == {"REDIS_PASSWORD", "REDISCLI_AUTH"}
    out = subprocess.run(["unshare", "--net", sys.executable, "-c", DRIVER, json.dumps([cmd, probe, str(tmp_path)])],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["password"] not in r["cmdline"], "the password must not be visible in the process list"
    assert r["cmdline"].startswith("redis-server"), "exec: redis is PID 1's replacement and gets SIGTERM itself"
    assert r["unauthenticated"].startswith("NOAUTH")
    assert r["probe_without_auth"] != 0
    assert (r["maxmemory"], r["policy"], r["appendonly"]) == ("268435456", "noeviction", "yes")
    assert r["dir"] == str(tmp_path)
    assert r["exit"] == 0
    assert r["after_restart"] == "kept"
    assert (tmp_path / "appendonlydir").is_dir()
