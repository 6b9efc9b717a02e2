"""Shared fixtures. `psql_path` finds psql, installing Debian's postgresql-client when the tests run
as root on a machine without it (CI starts from a bare machine); `pool` is a started pool of two
worker processes (rusts.core.workers), closed after the test."""

import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from rusts.core import workers


@pytest.fixture(scope="session")
def psql_path() -> str:
    found = shutil.which("psql")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
        installed = subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql-client"],
            env=env, capture_output=True, text=True, timeout=900,
        )
        found = shutil.which("psql")
        if found:
            return found
        raise AssertionError(f"could not install postgresql-client: {installed.stderr[-2000:]}")
    pytest.skip("psql is not installed and cannot be installed here (needs root and apt-get)")


@pytest.fixture()
def pool() -> Iterator[workers.WorkerPool]:
    started = workers.WorkerPool(2)
    deadline = time.monotonic() + 60
    while started._idle.qsize() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started._idle.qsize() == 2, "workers did not start"
    yield started
    started.close()
