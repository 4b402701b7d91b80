"""Every server we ship stops with everything it started on SIGTERM (what `systemctl stop`
sends): the API, the MCP server (HTTP and stdio) and the chat app, each the only user of a fresh
index, so the local index server it started (supervisor and Milvus Lite) must go with it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.app.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import ROOT, SMALL, free_port, write_docs

ENV = {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "RAG_EMBEDDING_MODEL": "minilm-offline",
       "RAG_LLM": "", "RAG_AUTH": "none"}  # fmt: skip


def children(pid: int) -> set[int]:
    """Every live descendant of `pid` (by the parent links in /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def running(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


@pytest.fixture()
def fresh(tmp_path):
    docs = write_docs(tmp_path / "docs", SMALL)
    data = tmp_path / "data"
    env = {**os.environ, **ENV, "RAG_STORE_URI": str(data / "milvus.db"), "RAG_DOCS_DIR": str(docs),
           "RAG_CHAT_DB": str(data / "chats.sqlite")}  # fmt: skip
    return env, data


def wait_until(check, what: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def index_server_up(data: Path) -> bool:
    return (data / "milvus.db.server.json").exists()


def stops_with_all_it_started(process: subprocess.Popen, data: Path) -> None:
    """SIGTERM; the process exits, and every process it started, the index server's
    supervisor and Milvus Lite among them, is gone within a few seconds."""
    started = children(process.pid)
    assert len(started) >= 2, started  # the supervisor and Milvus Lite at least
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    wait_until(lambda: not running(started), "what the server started to stop", 30)
    assert not index_server_up(data) and not (data / "milvus.db.sock:0").exists()


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status < 500
    except OSError:
        return False


def test_api_stops_with_its_index_server(fresh):
    env, data = fresh
    port = free_port()
    api = subprocess.Popen([sys.executable, "-m", "server.api", "--port", str(port)], cwd=ROOT,
                           env=env, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), "the API")
        http_ok(f"http://127.0.0.1:{port}/readyz")  # opens the index: starts its server
        wait_until(lambda: index_server_up(data), "the index server")
        stops_with_all_it_started(api, data)
    finally:
        api.kill()


def test_mcp_over_http_stops_with_its_index_server(fresh):
    env, data = fresh
    port = free_port()
    mcp = subprocess.Popen([sys.executable, "-m", "server.mcp", "--http", "--port", str(port)],
                           cwd=ROOT, env=env, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_until(lambda: index_server_up(data), "the index server")  # opened at start-up
        wait_until(lambda: port_open(port), "MCP")
        stops_with_all_it_started(mcp, data)
    finally:
        mcp.kill()


def test_mcp_over_stdio_stops_with_its_index_server(fresh):
    from accounts.users import Account, ApiKey, User, key_hash, new_api_key, save_account

    env, data = fresh
    key_id, key = new_api_key()
    users = data / "users.jsonl"
    save_account(users, Account(User("bo"), "$argon2id$x", (ApiKey(key_id, key_hash(key)),)))
    env = {**env, "RAG_USERS_FILE": str(users), "DOCS_QA_API_KEY": key}
    mcp = subprocess.Popen([sys.executable, "-m", "server.mcp"], cwd=ROOT, env=env,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_until(lambda: index_server_up(data), "the index server")
        stops_with_all_it_started(mcp, data)
    finally:
        mcp.kill()


def open_page_until(url: str, data) -> None:
    """Open the app in chromium until its session has started the index server."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            browser.new_page().goto(url)
            wait_until(lambda: index_server_up(data), "the index server")
        finally:
            browser.close()


def test_the_chat_app_stops_with_its_index_server(fresh):
    """chromium runs from a thread of its own here: a second Playwright beside the app tests'
    session-wide one is refused on the thread whose event loop that one runs."""
    env, data = fresh
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.port",
               str(port), "--server.address", "127.0.0.1", "--server.headless", "true"]  # fmt: skip
    app = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/_stcore/health"), "the app")
        # a session runs the page, which opens the index
        with ThreadPoolExecutor(1) as thread:
            thread.submit(open_page_until, f"http://127.0.0.1:{port}", data).result()
        stops_with_all_it_started(app, data)
    finally:
        app.kill()
