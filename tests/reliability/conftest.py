"""Fixtures for the reliability tests (run by .ci/steps/60-reliability.sh): the real server binary, real
PostgreSQL and Redis. A missing binary or service is a failure, never a skip."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def binary() -> str:
    b = os.environ.get("HMG_BIN", "")
    if not b or not os.access(b, os.X_OK):
        pytest.fail(f"HMG_BIN must name the server binary (got '{b}')")
    return b
