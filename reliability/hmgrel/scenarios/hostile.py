"""Scenario 5: hostile input.

One replica (PostgreSQL, Redis) with the edge proxy in front:

1. /api/openapi.json is self-contained (every $ref resolves);
2. schemathesis generates thousands of requests from it (examples, coverage, fuzzing, stateful phases) against the
   replica itself, so the server has to defend itself without nginx: no 5xx, every answer's status, content type,
   headers and body as documented, every schema-valid request accepted and every schema-invalid one rejected. Any
   failed check fails the scenario: the document and the server must agree exactly;
3. hand-written raw-HTTP cases (hmgrel/hostile.py: sizes, encodings, depth, huge numbers, SQL and HTML in names,
   headers, paths, protocol abuse) against the replica and through the proxy: clean 4xx, no echo, quickly;
4. slow clients: hundreds of connections dribbling their headers do not slow anyone else down, and each is
   closed after HTTP_IDLE_TIMEOUT_SECONDS.

The game engine's property test (tests/reliability/test_game_properties.py) runs in CI next to this.
"""
from __future__ import annotations

import concurrent.futures
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from .. import hostile as H
from ..report import Report
from ..scenario import env_binary
from ..stack import DRIVER_CPUS, Stack, http_get
from ..traffic import percentile

IDLE_TIMEOUT_S = 5
# Test cases schemathesis generates per operation and phase (--max-examples): a count, not a time budget, so
# the expectation below does not depend on how fast the machine is.
MAX_EXAMPLES_QUICK = 100
MAX_EXAMPLES_FULL = 500
# Operations without inputs (GET /health) have only a handful of distinct requests: the floor counts the
# operations that take a body, a query or a path parameter, each generating at least this share of its maximum.
MIN_SHARE_PER_OPERATION = 0.5


def refs_resolve(doc: dict) -> list[str]:
    missing = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                target: object = doc
                for part in ref.removeprefix("#/").split("/"):
                    target = target.get(part) if isinstance(target, dict) else None
                if target is None:
                    missing.append(ref)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return sorted(set(missing))


def error_section(output: str) -> str:
    """The ERRORS part of schemathesis' console output (what went wrong, with the request), shortened."""
    start = output.find("= ERRORS =")
    if start < 0:
        return ""
    end = output.find("\n===", output.find("\n", start))
    return output[start:end if end > 0 else None][:1500]


def operations_with_inputs(doc: dict) -> int:
    """How many operations take a request body or a query or path parameter."""
    return sum(1 for item in doc.get("paths", {}).values() for op in item.values()
               if isinstance(op, dict) and (op.get("requestBody") or any(
                   p.get("in") in ("query", "path") for p in op.get("parameters", []))))


def schemathesis(rep: Report, url: str, out: Path, max_examples: int, doc: dict) -> None:
    st_bin = Path(sys.executable).with_name("st")
    report_dir = out / "schemathesis"
    shutil.rmtree(report_dir, ignore_errors=True)
    report_dir.mkdir(parents=True)
    # One worker: with two, hypothesis parses source files in both threads to describe lambdas, and
    # CPython 3.11 shares the AST constructor's recursion counter between threads (cpython#106905), so a
    # run now and then ended in a "Runtime Error" of the tool itself. Two threads on the one driver core
    # shared the GIL anyway.
    here = Path(__file__).resolve().parents[1]
    cmd = ["taskset", "-c", DRIVER_CPUS, str(st_bin), "--config-file", str(here / "schemathesis.toml"), "run",
           f"{url}/api/openapi.json", "--checks", "all",
           "--max-examples", str(max_examples), "--workers", "1", "--no-color", "--report", "json,junit",
           "--report-dir", str(report_dir), "--request-timeout", "15", "--generation-database", "none"]
    # In the report directory: schemathesis keeps a cache of failing cases in its working directory.
    # The hooks keep generated requests within the two rules a JSON Schema cannot state (hmgrel/schemathesis_hooks.py).
    hooks_env = {**os.environ, "SCHEMATHESIS_HOOKS": "hmgrel.schemathesis_hooks",
                 "PYTHONPATH": os.pathsep.join(filter(None, [str(here.parent), os.environ.get("PYTHONPATH")]))}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, cwd=report_dir, env=hooks_env)
    (report_dir / "output.txt").write_text(r.stdout + r.stderr)
    reports = glob.glob(str(report_dir / "json-*.json"))
    if not reports:
        rep.expect("schemathesis ran and wrote its report", False, (r.stdout + r.stderr)[-800:])
        return
    d = json.loads(Path(reports[0]).read_text())
    cases = d["test_cases"]["generated"]
    failures = {f["code"]: f"{f['title']}: {', '.join(f['operations'][:4])}" for f in d["failures"]}
    rep.figure("schemathesis", {"test_cases": cases, "max_examples": max_examples,
                                "seconds": round(d["running_time"], 1), "seed": str(d["seed"]),
                                "phases": {k: v["status"] for k, v in d["phases"].items()},
                                "errors": len(d["errors"])})
    floor = int(operations_with_inputs(doc) * max_examples * MIN_SHARE_PER_OPERATION)
    rep.expect(f"schemathesis generated at least {floor} requests (half of --max-examples {max_examples} for each "
               "operation with inputs)", cases >= floor, cases)
    rep.expect("every check passed: no 5xx, every answer as documented (status, content type, headers, body "
               "schema), schema-valid requests accepted, schema-invalid ones rejected",
               not failures and not d["errors"],
               failures or ({"errors": d["errors"][:2], "output": error_section(r.stdout)} if d["errors"] else ""))
    unresolved = d["warnings"].get("unresolvable_reference", [])
    rep.expect("schemathesis could read every part of the document (no unresolvable reference)", not unresolved,
               unresolved)


def raw_cases(rep: Report, addr: tuple[str, int], label: str, via_proxy: bool = False) -> None:
    bad, html = [], []
    checked = 0
    for c in H.cases():
        if via_proxy and c.edge == "skip":
            continue
        if via_proxy and c.edge == "protocol":
            c.protocol = True
            c.expect = {s for s in c.expect | {400, 414, 431, 494} if s == H.NOT_HTTP or s < 500}
        a = H.send(addr, c.raw, timeout=max(5.0, c.max_seconds + 2))
        why = H.judge(c, a)
        checked += 1
        if why:
            bad.append(f"{c.name}: {why}")
        elif isinstance(a.status, int) and a.status >= 400 and not a.body.lstrip().startswith(b"{"):
            html.append(f"{c.name}: {a.status}")
    rep.expect(f"{label}: every hostile request got a clean, quick answer ({checked} cases)", not bad, bad)
    if html:
        rep.figure(f"{label}: answered by the HTTP layer without the JSON error shape", html)


def slow_clients(rep: Report, addr: tuple[str, int], url: str, n: int = 300) -> None:
    """n connections send half a request line and stop; others must not notice; each is closed by the server."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(addr, timeout=15)
        s.sendall(b"GET /api/leaderboard HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        socks.append(s)
    t_open = time.monotonic()
    lat = []
    for _ in range(50):
        t0 = time.monotonic()
        status, _ = http_get(url + "/api/game/config", 5)
        lat.append((time.monotonic() - t0) * 1000)
        if status != 200:
            lat.append(1e9)
    rep.figure("latency_while_slow_clients_hold_connections_ms",
               {"held": n, "p50": round(percentile(lat, 0.5), 2), "max": round(max(lat), 2)})
    rep.expect(f"{n} slow clients do not slow the others down (all 200, max under 500 ms)", max(lat) < 500,
               round(max(lat), 1))

    def closed_after(s: socket.socket) -> float:
        try:
            s.settimeout(IDLE_TIMEOUT_S + 10)
            s.recv(1024)
        except OSError:
            pass
        return time.monotonic() - t_open

    with concurrent.futures.ThreadPoolExecutor(64) as ex:
        closed = list(ex.map(closed_after, socks))
    for s in socks:
        s.close()
    rep.figure("slow_client_closed_after_seconds", {"min": round(min(closed), 2), "max": round(max(closed), 2)})
    rep.expect(f"the server closes each slow client after HTTP_IDLE_TIMEOUT_SECONDS ({IDLE_TIMEOUT_S} s)",
               max(closed) <= IDLE_TIMEOUT_S + 3, round(max(closed), 2))


def run(quick: bool) -> Report:
    rep = Report("hostile")
    binary = env_binary()
    out = Path(os.environ.get("REL_OUT", Path(__file__).resolve().parents[3] / "target" / "reliability" / "results"))
    with Stack("hostile", binary) as st:
        st.start_redis(6378)
        st.shared_database()
        b = st.new_backend(extra_env={"HTTP_IDLE_TIMEOUT_SECONDS": str(IDLE_TIMEOUT_S)}).start()
        px = st.start_proxy([b])
        status, body = http_get(b.url + "/api/openapi.json", 5)
        doc = json.loads(body) if status == 200 else {}
        rep.expect("GET /api/openapi.json answers an OpenAPI 3.1 document", str(doc.get("openapi", "")).startswith("3.1"),
                   doc.get("openapi"))
        missing = refs_resolve(doc)
        rep.expect("every $ref in the document resolves", not missing, missing)
        raw_cases(rep, (b.addr, 3001), "replica")
        raw_cases(rep, px.listen, "through the proxy", via_proxy=True)
        slow_clients(rep, (b.addr, 3001), b.url)
        # Its own replica with the default idle timeout: the short one above would close a fuzzing worker's
        # pooled connection while it thinks, and the next request on it fails as a client-side race.
        fuzz = st.new_backend().start()
        schemathesis(rep, fuzz.url, out, MAX_EXAMPLES_QUICK if quick else MAX_EXAMPLES_FULL, doc)
        rep.expect("the replicas are still alive and ready after all of it",
                   all(http_get(x.url + "/health/ready", 5)[0] == 200 and x.proc.alive() for x in (b, fuzz)))
    return rep
