"""Fixtures for the Kubernetes/GitOps tests (helpers: manifests.py)."""
import os

import pytest

from .manifests import load_contract


@pytest.fixture(scope="session")
def contract():
    data, source = load_contract()
    print(f"\n[contract source: {source}]")
    return data


def pytest_report_header(config):
    binary = os.environ.get("HMG_BIN")
    return f"contract source: {binary + ' contract' if binary else 'docs/contract.json (HMG_BIN unset)'}"
