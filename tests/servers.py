"""A real `rusts` server process on free ports, for tests that talk to it over HTTP and pgwire."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import rusts

PACKAGE_ROOT = str(Path(rusts.__file__).parent.parent)


ARROW_STREAM = {"Content-Type": "application/vnd.apache.arrow.stream"}


def arrow_stream(*batches: Any, compression: str | None = None) -> bytes:
    """The record batches as the bytes of an Arrow IPC stream (a POST /write/arrow body)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batches[0].schema, options=pa.ipc.IpcWriteOptions(compression=compression)) as writer:
        for batch in batches:
            writer.write(batch)
    data: bytes = sink.getvalue().to_pybytes()
    return data


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RustsServer:
    """`python -m rusts.server.cli` with HTTP and PostgreSQL on free ports of 127.0.0.1.

    The `*_extra` texts are added inside their section's YAML flow mapping
    (e.g. postgres_extra=", auth_method: md5, users: {alice: pw}").
    """

    def __init__(
        self, directory: Path, postgres_extra: str = "", server_extra: str = "", durability: str = "none",
        auth: str = "{enabled: false}", storage_extra: str = "",
    ) -> None:
        self.directory = directory
        self.port = free_port()
        self.pg_port = free_port()
        self.data_dir = directory / "data"
        self.config = directory / "rusts.yml"
        self.config.write_text(
            f"server: {{host: 127.0.0.1, port: {self.port}{server_extra}}}\n"
            f"storage: {{data_dir: '{self.data_dir}', wal_durability: {durability}{storage_extra}}}\n"
            f"postgres: {{host: 127.0.0.1, port: {self.pg_port}{postgres_extra}}}\n"
            f"auth: {auth}\n"
            "logging: {level: warn}\n"
        )
        env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rusts.server.cli", "--config", str(self.config)],
            cwd=directory, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        self.wait_ready()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def exchange(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        """Status, body (decoded JSON when it is JSON, else text; None when empty) and headers."""
        req = urllib.request.Request(self.url(path), data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                payload = response.read()
                kind = response.headers.get("content-type", "")
                decoded = (json.loads(payload) if "json" in kind else payload.decode()) if payload else None
                return response.status, decoded, dict(response.headers)
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            return exc.code, json.loads(payload) if payload else None, dict(exc.headers)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        status, decoded, _ = self.exchange(method, path, body, headers)
        return status, decoded

    def write(self, lines: str) -> None:
        status, body = self.request("POST", "/write", lines.encode())
        assert status == 204, body

    def sql(self, text: str) -> Any:
        status, body = self.request("POST", "/sql?epoch=ns", json.dumps({"query": text}).encode())
        assert status == 200, body
        return body

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.output()}")
            try:
                if self.request("GET", "/ready")[0] == 200:
                    return
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.1)
        raise AssertionError("server not ready in 30 s")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def output(self) -> str:
        return self.process.stdout.read().decode() if self.process.stdout and self.process.poll() is not None else ""
