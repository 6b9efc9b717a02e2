"""Shared fixtures. `psql_path` finds psql, installing Debian's postgresql-client when the tests run
as root on a machine without it (CI starts from a bare machine)."""

import os
import shutil
import subprocess

import pytest


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
