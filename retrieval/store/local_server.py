"""A local Milvus Lite server shared by the app and the ingest job.

Milvus Lite lets one process open a data directory. So the chat app serves its index with
`milvus-lite server` on 127.0.0.1 and records the address beside the data directory; any other
process of ours (a CLI ingest, the app's re-ingest job) that is pointed at the same path finds
that record and connects through the server instead of failing on the lock.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

HOST = "127.0.0.1"


def is_local_path(uri: str) -> bool:
    return "://" not in uri


def record_file(data_dir: str) -> Path:
    path = Path(data_dir).expanduser().resolve()
    return path.with_name(path.name + ".server.json")


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
        return True
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_server(data_dir: str) -> str | None:
    """The URI of a running local server for this data directory, if there is one."""
    record = record_file(data_dir)
    try:
        info = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    if _alive(int(info.get("pid", -1))) and _port_open(int(info.get("port", -1))):
        return f"http://{HOST}:{info['port']}"
    return None


def resolve(uri: str) -> str:
    """A Lite path served by a running local server resolves to that server's URI."""
    return (find_server(uri) or uri) if is_local_path(uri) else uri


def registry_file(port: int) -> Path:
    """Where a running local server says which data directory it serves (found by port)."""
    return Path(tempfile.gettempdir()) / "docs-qa-servers" / f"{port}.json"


def data_dir_for(uri: str) -> Path | None:
    """The data directory behind a URI, when the URI is a running local server of ours."""
    parsed = urllib.parse.urlsplit(uri)
    if parsed.hostname not in {HOST, "localhost"} or parsed.port is None:
        return None
    try:
        info = json.loads(registry_file(parsed.port).read_text())
    except (OSError, ValueError):
        return None
    if _alive(int(info.get("pid", -1))) and _port_open(parsed.port):
        return Path(info["data_dir"])
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def ensure_server(data_dir: str, timeout_s: float = 60.0) -> str:
    """Reuse or start the local server for a data directory; returns its URI."""
    if found := find_server(data_dir):
        return found
    path = Path(data_dir).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "milvus_lite",
        "server",
        "--data-dir",
        str(path),
        "--host",
        HOST,
        "--port",
        str(port),
    ]
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + timeout_s
    while not _port_open(port):
        if process.poll() is not None:
            detail = (process.stderr.read() or b"").decode(errors="replace").strip()
            raise RuntimeError(_start_error(str(path), detail))
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the local Milvus server for {path} did not start in time")
        time.sleep(0.1)
    record_file(data_dir).write_text(json.dumps({"pid": process.pid, "port": port}))
    registry = registry_file(port)
    registry.parent.mkdir(parents=True, exist_ok=True)
    registry.write_text(json.dumps({"pid": process.pid, "data_dir": str(path)}))
    atexit.register(stop_server, process, data_dir)
    return f"http://{HOST}:{port}"


def _start_error(path: str, detail: str) -> str:
    if "lock" in detail.lower():
        return (
            f"the index {path} is open in another process (an ingest?); wait for it to "
            "finish and start the app again"
        )
    return f"the local Milvus server for {path} failed to start: {detail.splitlines()[-1:]}"


def stop_server(process: subprocess.Popen, data_dir: str) -> None:
    """Shut a server down cleanly (SIGINT, as Milvus Lite expects) and drop its record."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    with contextlib.suppress(OSError):
        record = record_file(data_dir)
        if json.loads(record.read_text()).get("pid") == process.pid:
            record.unlink()
