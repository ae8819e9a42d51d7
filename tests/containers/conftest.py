"""Fixtures for the container, compose and nginx tests (run by .ci/steps/30-containers.sh); helpers in
local_stack.py."""
import json
import os
import subprocess

import pytest

from . import image_build
from .local_stack import FRONTEND, IN_CI, PROXY, STATE, FrontendImage, Stack, answers_ok, repo_path


@pytest.fixture(scope="session")
def contract():
    """The operational contract: the binary's own `contract` output when a binary is given (always in CI)."""
    if os.environ.get("HMG_CONTRACT"):
        with open(os.environ["HMG_CONTRACT"], encoding="utf-8") as f:
            return json.load(f)
    binary = os.environ.get("HMG_BIN")
    if binary:
        return json.loads(subprocess.run([binary, "contract"], check=True, capture_output=True).stdout)
    if IN_CI:
        pytest.fail("CI must test against the binary's contract: set HMG_BIN or HMG_CONTRACT")
    with open(repo_path("docs", "contract.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def header_table():
    with open(repo_path("frontend", "tests", "http-headers.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def frontend_image(tmp_path_factory):
    return FrontendImage(image_build.frontend_image(str(tmp_path_factory.mktemp("frontend-image") / "root")))


@pytest.fixture(scope="session")
def static_version(frontend_image):
    """The asset version in the page's URLs (/static/<version>/...)."""
    return frontend_image.version


@pytest.fixture(scope="session")
def stack():
    """The running local stack (scripts/local-stack.sh up); the tests never start a second one."""
    if not (answers_ok(PROXY, "/_proxy/health") and answers_ok(FRONTEND, "/health")):
        pytest.fail("the local stack is not running: start it with scripts/local-stack.sh up")
    return Stack(STATE)
