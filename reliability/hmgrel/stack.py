"""The processes a scenario runs: its own Redis, a PostgreSQL database (on the shared server) or its own
PostgreSQL cluster (for outages), backend replicas on 127.0.0.11-19 and the production nginx proxy.

Everything is started by this module and stopped by PID when the stack closes (also on Ctrl-C or a failed
assertion), so a scenario never leaves a process, a database or a cluster behind. Servers are pinned to core 0
(`taskset`); the traffic driver pins itself to core 1 (see `pin_driver`).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The repository's test harness (tests/harness: processes, waits, ports, redis-server), shared with tests/.
sys.path.insert(0, str(ROOT / "tests"))
from harness import Process, RedisServer, accepts_connections, wait_for  # noqa: E402

SERVER_CPUS = os.environ.get("REL_SERVER_CPUS", "0")
DRIVER_CPUS = os.environ.get("REL_DRIVER_CPUS", "1")
# Addresses and ports assigned to this area (docs/reliability.md): backends 127.0.0.11-19 on the container
# port 3001, the proxy on 127.0.0.20:3400, Redis on 6370-6378, the outage cluster on 5440.
BACKEND_PORT = 3001
PROXY_LISTEN = ("127.0.0.20", 3400)
CHAOS_PG_PORT = 5440
PG_VERSION = os.environ.get("REL_PG_VERSION", "15")


class StackError(RuntimeError):
    """The stack could not be set up (a tool, port or service is missing): a failure, never a skip."""


def pin_driver() -> None:
    """The driver (this Python process) runs on its own core, away from the servers it measures."""
    cpus = {int(c) for c in DRIVER_CPUS.split(",")}
    if hasattr(os, "sched_setaffinity") and cpus <= set(range(os.cpu_count() or 1)):
        os.sched_setaffinity(0, cpus)


def need(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise StackError(f"{tool} is not installed ({hint})")
    return path


def port_free(addr: str, port: int) -> bool:
    return not accepts_connections(addr, port, timeout=0.3)


def wait(what: str, predicate, timeout: float, interval: float = 0.05):
    """harness.wait_for, failing as a StackError (the stack could not be set up)."""
    try:
        return wait_for(what, predicate, timeout, interval)
    except AssertionError as e:
        raise StackError(str(e)) from None


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """A GET that never raises on an HTTP status; (0, b"") when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, urllib.error.URLError):
        return 0, b""


class Proc(Process):
    """One process we started, pinned to the servers' cores (taskset execs the program, so the PID is the
    program's); signalled only by its own PID, and only while it is still ours."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict | None = None, cpus: str | None = SERVER_CPUS):
        super().__init__(name, (["taskset", "-c", cpus] if cpus else []) + argv, log=log, env=env)
        self.started_at = 0.0

    def start(self) -> "Proc":
        self.started_at = time.monotonic()
        super().start()
        return self


class Redis(RedisServer):
    """A private redis-server (no persistence, like the shared one: a restart is a data loss)."""

    def __init__(self, state: Path, port: int, password: str | None = None):
        if not 6370 <= port <= 6378:
            raise StackError(f"Redis port {port} is outside this area's range 6370-6378")
        need("redis-server", "Debian: apt-get install redis-server")
        need("redis-cli", "Debian: apt-get install redis-tools")
        super().__init__(state / f"redis-{port}", port=port, password=password, start_timeout=10)

    def start(self) -> "Redis":
        if not port_free("127.0.0.1", self.port):
            raise StackError(f"port {self.port} is in use (another Redis?)")
        try:
            super().start()
        except AssertionError as e:
            raise StackError(f"{e} (see {self.dir}/redis.log)") from None
        return self

    def cli(self, *args: str, check: bool = True) -> str:
        r = subprocess.run(["redis-cli", "-p", str(self.port), "--no-auth-warning", "-a", self.password, *args],
                           capture_output=True, text=True, timeout=10)
        if check and r.returncode != 0:
            raise StackError(f"redis-cli {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout.strip()

    def close(self) -> None:
        self.stop()


def psql(port: int, db: str, sql: str, *, csv: bool = False, timeout: float = 600) -> str:
    args = ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", db, "-X", "-q", "-v",
            "ON_ERROR_STOP=1", "-tA"]
    if csv:
        args.append("--csv")
    r = subprocess.run(args + ["-c", sql], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise StackError(f"psql on {port}/{db}: {r.stderr.strip()}")
    return r.stdout.strip()


class Database:
    """A fresh database `hmg_rel_<random>` on a PostgreSQL server (the shared one on 5432 by default)."""

    def __init__(self, port: int = 5432, name: str | None = None):
        need("psql", "Debian: apt-get install postgresql-client")
        self.port = port
        self.name = name or f"hmg_rel_{secrets.token_hex(4)}"
        self.created = False

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.name}"

    def create(self) -> "Database":
        psql(self.port, "postgres", f"CREATE DATABASE {self.name}")
        self.created = True
        return self

    def sql(self, sql: str, **kw) -> str:
        return psql(self.port, self.name, sql, **kw)

    def rows(self, sql: str) -> list[dict]:
        """The rows of a query as dicts (through json_agg, so types survive)."""
        out = self.sql(f"SELECT coalesce(json_agg(q), '[]') FROM ({sql}) q")
        return json.loads(out)

    def drop(self) -> None:
        if self.created:
            psql(self.port, "postgres", f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
            self.created = False


class ChaosCluster:
    """This area's own PostgreSQL cluster (`pg_createcluster 15 chaos --port 5440`), stopped and started by the
    outage scenario and dropped at the end, so the shared server on 5432 is never touched."""

    def __init__(self, state: Path, port: int = CHAOS_PG_PORT, name: str = "chaos"):
        need("pg_createcluster", "Debian: apt-get install postgresql-common postgresql")
        self.port, self.name, self.state = port, name, state
        self.created = False

    def _ctl(self, *args: str, timeout: float = 60) -> None:
        r = subprocess.run(["taskset", "-c", SERVER_CPUS, "pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION,
                            self.name, *args], capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise StackError(f"pg_ctlcluster {self.name} {' '.join(args)}: {r.stderr.strip()}")

    def exists(self) -> bool:
        return Path(f"/etc/postgresql/{PG_VERSION}/{self.name}").exists()

    def create(self) -> None:
        if self.exists():
            # A cluster of ours that an interrupted run left behind: it holds nothing worth keeping.
            subprocess.run(["pg_dropcluster", "--stop", PG_VERSION, self.name], capture_output=True, timeout=60)
        if not port_free("127.0.0.1", self.port):
            raise StackError(f"port {self.port} is in use")
        r = subprocess.run(["pg_createcluster", PG_VERSION, self.name, "--port", str(self.port),
                            "--", "--auth-local=trust", "--auth-host=trust"],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise StackError(f"pg_createcluster: {r.stderr.strip()}")
        self.created = True
        self.start()

    def ready(self) -> bool:
        return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)]).returncode == 0

    def start(self) -> None:
        self._ctl("start")
        wait(f"cluster {self.name} to accept connections on {self.port}", self.ready, 30, interval=0.1)

    def stop(self, mode: str = "immediate") -> None:
        """`immediate` is a crash as far as PostgreSQL is concerned: no checkpoint, WAL replay at the next start."""
        self._ctl("stop", "-m", mode)

    def drop(self) -> None:
        if self.created:
            subprocess.run(["pg_dropcluster", "--stop", PG_VERSION, self.name], capture_output=True, timeout=60)
            self.created = False


class Relay:
    """hmgrel.faultproxy in its own process, pinned with the servers: the network between replicas and a
    dependency, which `partition()` cuts without closing anything and `heal()` restores."""

    def __init__(self, state: Path, listen_port: int, target_port: int):
        if not 3400 <= listen_port <= 3499:
            raise StackError(f"relay port {listen_port} is outside this area's range 3400-3499")
        self.port = listen_port
        self.proc = Proc(f"relay-{listen_port}", [sys.executable, "-m", "hmgrel.faultproxy", str(listen_port),
                                                  str(target_port)], state / "logs" / f"relay-{listen_port}.log",
                         {**os.environ, "PYTHONPATH": str(ROOT / "reliability")})

    def start(self) -> "Relay":
        self.proc.start()

        def listening() -> bool:
            if not self.proc.alive():
                raise StackError(f"the relay exited (see {self.proc.log})")
            return not port_free("127.0.0.1", self.port)

        wait(f"the relay on {self.port}", listening, 10)
        return self

    def partition(self) -> None:
        self.proc.signal(signal.SIGUSR1)

    def heal(self) -> None:
        self.proc.signal(signal.SIGUSR2)

    def close(self) -> None:
        self.proc.stop(5)


class Backend:
    """One replica of the server binary, configured as compose and the manifests configure it."""

    def __init__(self, state: Path, binary: str, addr: str, env: dict, label: str):
        self.binary, self.addr, self.label = binary, addr, label
        self.url = f"http://{addr}:{BACKEND_PORT}"
        self.env = {"PATH": "/usr/bin:/bin", "NODE_ENV": "production", "HOST": addr, "PORT": str(BACKEND_PORT),
                    "LOG_FORMAT": "json", "LOG_LEVEL": "info", **env}
        self.proc = Proc(f"backend-{label}", [binary, "serve"], state / "logs" / f"backend-{label}.log", self.env)
        self.ready_seconds: float | None = None
        self.exit_code: int | None = None
        self.stop_seconds: float | None = None

    def start(self, wait: bool = True, timeout: float = 60) -> "Backend":
        if not port_free(self.addr, BACKEND_PORT):
            raise StackError(f"{self.addr}:{BACKEND_PORT} is in use")
        self.proc.start()
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds from exec to the first 200 on /health/ready (polled every 10 ms)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.proc.alive():
                raise StackError(f"backend {self.label} exited with {self.proc.popen.returncode} "
                                 f"(see {self.proc.log})")
            if http_get(self.url + "/health/ready", 1)[0] == 200:
                self.ready_seconds = time.monotonic() - self.proc.started_at
                return self.ready_seconds
            time.sleep(0.01)
        raise StackError(f"backend {self.label} on {self.addr} not ready within {timeout}s (see {self.proc.log})")

    def terminate(self) -> None:
        self.proc.signal(signal.SIGTERM)
        self._term_at = time.monotonic()

    def wait_exit(self, timeout: float = 40) -> int | None:
        rc = self.proc.wait(timeout)
        self.exit_code = rc
        if rc is not None and hasattr(self, "_term_at"):
            self.stop_seconds = time.monotonic() - self._term_at
        return rc

    def kill(self) -> None:
        self.proc.signal(signal.SIGKILL)
        self.exit_code = self.proc.wait(10)

    def hang(self) -> None:
        """The process stops answering (SIGSTOP) but keeps its connections: what requests sent to it meet."""
        self.proc.signal(signal.SIGSTOP)

    def close(self) -> None:
        self.proc.stop(40)


class Proxy:
    """nginx/nginx.conf, unchanged but for its listen address, in a private mount namespace (the containers
    area's run-nginx.sh), with `backend` resolved through a private hosts file. Changing the set of replicas
    rewrites that file and reloads nginx (SIGHUP): what an endpoints update does for an ingress."""

    def __init__(self, state: Path, listen: tuple[str, int] = PROXY_LISTEN):
        need("nginx", "Debian: apt-get install nginx-light")
        need("unshare", "Debian: util-linux")
        if os.geteuid() != 0:
            raise StackError("the proxy needs root (nginx runs in a private mount namespace)")
        self.state, self.listen = state, listen
        self.url = f"http://{listen[0]}:{listen[1]}"
        self.conf = state / "nginx.conf"
        self.hosts = state / "hosts"
        self.access_log = state / "logs" / "proxy.access.log"
        self.proc: Proc | None = None
        self.backends: list[str] = []

    def render(self) -> str:
        """The production config with one change: where it listens (:3000 belongs to the local stack)."""
        text = (ROOT / "nginx" / "nginx.conf").read_text()
        new, n = re.subn(r"^(\s*)listen 3000 default_server;$",
                         rf"\1listen {self.listen[0]}:{self.listen[1]} default_server;", text, flags=re.M)
        if n != 1:
            raise StackError("nginx/nginx.conf no longer has exactly one 'listen 3000 default_server;' line")
        if "server backend:3001" not in new:
            raise StackError("nginx/nginx.conf no longer proxies to backend:3001")
        return new

    def _write_hosts(self, backends: list[str]) -> None:
        # In place (same inode): the namespace sees this file through a bind mount.
        with open(self.hosts, "r+" if self.hosts.exists() else "w") as f:
            f.seek(0)
            f.write("127.0.0.1 localhost\n" + "".join(f"{a} backend\n" for a in backends)
                    + "127.0.0.29 frontend\n")
            f.truncate()
        self.backends = list(backends)

    def start(self, backends: list[str]) -> None:
        if not port_free(*self.listen):
            raise StackError(f"{self.listen[0]}:{self.listen[1]} is in use")
        self.state.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(self.render())
        self._write_hosts(backends)
        self.proc = Proc("proxy", [str(ROOT / "scripts" / "local-stack" / "run-nginx.sh"), "--conf", str(self.conf),
                                   "--hosts", str(self.hosts)], self.access_log)
        self.proc.start()

        def healthy() -> bool:
            if not self.proc.alive():
                raise StackError(f"nginx exited (see {self.access_log})")
            return http_get(self.url + "/_proxy/health", 1)[0] == 200

        wait("the proxy to answer /_proxy/health", healthy, 20)

    def workers(self) -> set[int]:
        """PIDs of the nginx master's children (the master is the PID we started: run-nginx.sh execs it)."""
        try:
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return set()
        return {int(k) for k in kids}

    def set_backends(self, backends: list[str]) -> float:
        """Rewrites the peer list and reloads; returns once new workers serve (seconds taken)."""
        t0 = time.monotonic()
        old = self.workers()
        self._write_hosts(backends)
        self.proc.signal(signal.SIGHUP)
        deadline = t0 + 10
        while time.monotonic() < deadline:
            if len(self.workers() - old) >= 1:
                return time.monotonic() - t0
            time.sleep(0.01)
        raise StackError("nginx did not reload within 10 s")

    def close(self) -> None:
        if self.proc:
            self.proc.stop(10)


class Endpoints:
    """Stands in for Kubernetes endpoints between the edge proxy and the replicas: a TCP balancer (nginx's stream
    module) on 127.0.0.25:3001 whose peers are the ready replicas. A change reloads it: new connections go to the
    new peers while established ones keep their replica until they close (as kube-proxy's conntrack entries do),
    and the edge's own client connections are never touched (ingress-nginx changes peers without a reload)."""

    ADDR = ("127.0.0.25", BACKEND_PORT)
    MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")

    def __init__(self, state: Path):
        need("nginx", "Debian: apt-get install nginx-light")
        if not self.MODULE.exists():
            raise StackError(f"{self.MODULE} is missing (Debian: apt-get install libnginx-mod-stream)")
        self.state = state
        self.conf = state / "endpoints.conf"
        self.proc: Proc | None = None
        self.peers: list[str] = []

    def _render(self, peers: list[str]) -> str:
        servers = "".join(f"        server {a}:{BACKEND_PORT};\n" for a in peers)
        return (f"load_module {self.MODULE};\nworker_processes 1;\npid {self.state}/endpoints.pid;\n"
                "error_log stderr warn;\nevents { worker_connections 2048; }\nstream {\n"
                f"    upstream pods {{\n{servers}    }}\n"
                f"    server {{\n        listen {self.ADDR[0]}:{self.ADDR[1]};\n        proxy_pass pods;\n"
                "        proxy_connect_timeout 1s;\n        proxy_next_upstream on;\n"
                "        proxy_next_upstream_tries 3;\n    }\n}\n")

    def start(self, peers: list[str]) -> None:
        if not port_free(*self.ADDR):
            raise StackError(f"{self.ADDR[0]}:{self.ADDR[1]} is in use")
        self.conf.write_text(self._render(peers))
        self.peers = list(peers)
        self.proc = Proc("endpoints", ["nginx", "-e", "stderr", "-c", str(self.conf), "-g", "daemon off;"],
                         self.state / "logs" / "endpoints.log").start()

        def listening() -> bool:
            if not self.proc.alive():
                raise StackError(f"the endpoints balancer exited (see {self.proc.log})")
            return not port_free(*self.ADDR)

        wait("the endpoints balancer to listen", listening, 10)

    def workers(self) -> set[int]:
        try:
            return {int(k) for k in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()}
        except OSError:
            return set()

    def set_peers(self, peers: list[str]) -> float:
        t0 = time.monotonic()
        old = self.workers()
        self.conf.write_text(self._render(peers))
        self.peers = list(peers)
        self.proc.signal(signal.SIGHUP)
        while time.monotonic() < t0 + 10:
            if self.workers() - old:
                return time.monotonic() - t0
            time.sleep(0.01)
        raise StackError("the endpoints balancer did not reload within 10 s")

    def close(self) -> None:
        if self.proc:
            # SIGQUIT: graceful, but the run is over; SIGTERM stops at once.
            self.proc.stop(10)


class Stack:
    """Owns every resource of one scenario run; `close()` releases them in reverse order."""

    def __init__(self, name: str, binary: str):
        base = Path(os.environ.get("REL_STATE", ROOT / "target" / "reliability"))
        self.state = base / name
        if self.state.exists():
            shutil.rmtree(self.state)
        (self.state / "logs").mkdir(parents=True)
        self.binary = binary
        self.jwt_secret = secrets.token_urlsafe(36)
        self._closers: list = []
        self.backends: list[Backend] = []
        self.redis: Redis | None = None
        self.db: Database | None = None
        self.cluster: ChaosCluster | None = None
        self.proxy: Proxy | None = None
        self.endpoints: Endpoints | None = None
        self._next_addr = 11

    # -- resources ------------------------------------------------------------------------------------------
    def start_redis(self, port: int) -> Redis:
        self.redis = Redis(self.state, port)
        self._closers.append(self.redis.close)
        self.redis.start()
        return self.redis

    def shared_database(self) -> Database:
        self.db = Database(5432)
        self._closers.append(self.db.drop)
        self.db.create()
        return self.db

    def chaos_database(self) -> Database:
        self.cluster = ChaosCluster(self.state)
        self._closers.append(self.cluster.drop)
        self.cluster.create()
        self.db = Database(self.cluster.port, "hmg_chaos")
        self.db.create()
        return self.db

    def backend_env(self, extra: dict | None = None) -> dict:
        assert self.db is not None
        env = {"DATABASE_URL": self.db.url, "JWT_SECRET": self.jwt_secret, "TRUSTED_PROXIES": "127.0.0.1/32",
               "RATE_LIMIT_MAX_REQUESTS": "1000000", "DB_MAX_CONNECTIONS": "10"}
        if self.redis:
            env["REDIS_URL"] = self.redis.url
        env.update(extra or {})
        return env

    def new_backend(self, binary: str | None = None, extra_env: dict | None = None, label: str | None = None,
                    addr: str | None = None) -> Backend:
        """A replica on the next free address of 127.0.0.11-19 (a fresh pod IP, as Kubernetes gives)."""
        if addr is None:
            for _ in range(9):
                candidate = f"127.0.0.{self._next_addr}"
                self._next_addr = 11 + (self._next_addr - 10) % 9
                if candidate not in {b.addr for b in self.backends if b.proc.alive()} \
                        and port_free(candidate, BACKEND_PORT):
                    addr = candidate
                    break
            else:
                raise StackError("no free backend address in 127.0.0.11-19")
        b = Backend(self.state, binary or self.binary, addr, self.backend_env(extra_env),
                    label or f"{len(self.backends) + 1}")
        self.backends.append(b)
        self._closers.append(b.close)
        return b

    def start_proxy(self, backends: list[Backend], endpoints: bool = False) -> Proxy:
        """The edge proxy; with `endpoints`, `backend` names the endpoints balancer instead of the replicas."""
        if endpoints:
            self.endpoints = Endpoints(self.state)
            self._closers.append(self.endpoints.close)
            self.endpoints.start([b.addr for b in backends])
        self.proxy = Proxy(self.state)
        self._closers.append(self.proxy.close)
        self.proxy.start([Endpoints.ADDR[0]] if endpoints else [b.addr for b in backends])
        return self.proxy

    def close(self) -> None:
        errors = []
        # Every replica drains at once (each takes DRAIN_DELAY_SECONDS), then each is waited for in turn.
        for b in self.backends:
            b.proc.signal(signal.SIGTERM)
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception as e:  # keep closing the rest; report at the end
                errors.append(f"{closer}: {e}")
        self._closers.clear()
        if errors:
            raise StackError("; ".join(errors))

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
