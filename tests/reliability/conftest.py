"""Fixtures for the reliability tests (run by .ci/steps/60-reliability.sh): the real server binary, real
PostgreSQL and Redis. A missing binary or service is a failure, never a skip."""
from __future__ import annotations

import http.client
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "reliability"))


@pytest.fixture(scope="session")
def binary() -> str:
    b = os.environ.get("HMG_BIN", "")
    if not b or not os.access(b, os.X_OK):
        pytest.fail(f"HMG_BIN must name the server binary (got '{b}')")
    return b


def call(base: str, method: str, path: str, body: object = None, *, token: str | None = None,
         key: str | None = None, headers: dict | None = None, raw: bytes | None = None, timeout: float = 10):
    """One request on a fresh connection; returns (status, headers (lower-case), parsed JSON or raw bytes)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        h = {"Accept": "application/json", **(headers or {})}
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        if token:
            h["Authorization"] = f"Bearer {token}"
        if key:
            h["Idempotency-Key"] = key
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        payload = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        try:
            parsed = json.loads(payload) if payload else None
        except ValueError:
            parsed = payload
        return r.status, hdrs, parsed
    finally:
        conn.close()
