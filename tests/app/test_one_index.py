"""One index, many processes, in any start order: the watcher, one-shot ingests, the chat app
in a real browser, the API and the MCP server, each a real process on one Milvus Lite index.

Every test counts the sessions it opened and those that got an answer (README figures), and
ends by checking that no index server outlives its last user.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from retrieval.store.local_server import lease_dir, record_file
from tests.app.test_browser import new_page, streamlit_app
from tests.conftest import ROOT, SMALL, free_port, write_docs

ANSWER = "27 days of paid annual leave"  # in SMALL's hr/leave.md
QUESTION = "How much paid annual leave does everyone get?"
ENV = {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "RAG_EMBEDDING_MODEL": "minilm-offline",
       "RAG_LLM": "", "RAG_AUTH": "none"}  # fmt: skip
TALLY: dict[str, list[int]] = {}  # test -> [sessions answered, sessions opened]


def spawn(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **ENV, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(process: subprocess.Popen) -> None:
    """What `systemctl stop` does: SIGTERM, then wait."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def wait_for(check, what: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def synced(db: Path, after: float = 0.0) -> bool:
    status = db.parent / "docs.sync-status.json"
    return status.exists() and status.stat().st_mtime > after


def server_processes(db: Path) -> list[int]:
    """Pids of any index server (or its supervisor) for this data directory."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        ours = "milvus_lite" in command or "local_server" in command
        if str(db) in command and ours and state != "Z":
            found.append(int(entry.name))
    return found


def no_server_left(db: Path) -> None:
    wait_for(lambda: not server_processes(db), "the index server to stop", timeout_s=30)
    assert not record_file(db).exists()
    assert not list(lease_dir(db).glob("*"))


@contextmanager
def chat_app(db: Path, docs: Path):
    env = {"RAG_STORE_URI": str(db), "RAG_DOCS_DIR": str(docs),
           "RAG_CHAT_DB": str(db.parent / "chats.sqlite")}  # fmt: skip
    with streamlit_app({**ENV, **env}, free_port()) as url:
        yield url


def open_session(browser, url: str, tally: list[int], question: str = QUESTION):
    """A new browser session asks; returns the page once it is on its way."""
    page = new_page(browser)
    tally[1] += 1
    page.goto(url)
    box = page.get_by_test_id("stChatInputTextArea")
    box.wait_for(timeout=120_000)
    box.fill(question)
    box.press("Enter")
    return page


def answered(page, tally: list[int], text: str = ANSWER) -> None:
    """The session shows the answer, and never an error page."""
    from playwright.sync_api import expect

    expect(page.get_by_text(text).first).to_be_visible(timeout=120_000)
    body = page.inner_text("body")
    assert "Cannot open the index" not in body and "Traceback" not in body
    assert "start the app again" not in body
    tally[0] += 1
    page.context.close()


@pytest.fixture()
def tree(tmp_path):
    docs = write_docs(tmp_path / "docs", SMALL)
    return docs, tmp_path / "index" / "milvus.db"


@pytest.fixture()
def tally(request):
    counts = TALLY.setdefault(request.node.name, [0, 0])
    yield counts
    print(f"\nsessions answered / opened, {request.node.name}: {counts[0]} / {counts[1]}")


def test_watcher_first_then_the_app_then_a_new_doc(browser, tree, tally):
    docs, db = tree
    watcher = spawn("-m", "ingest", str(docs), "--db", str(db), "--watch", "--debounce", "0.3")
    try:
        wait_for(lambda: synced(db), "the watcher's first sync")
        with chat_app(db, docs) as url:
            answered(open_session(browser, url, tally), tally)
            before = time.time()
            (docs / "office" / "parking.md").write_text(
                "# Parking\n\nVisitors park on level minus two, bay P7.\n"
            )
            wait_for(lambda: synced(db, before), "the watcher to sync the new doc")
            page = open_session(browser, url, tally, "Where can visitors leave their car?")
            answered(page, tally, "bay P7")
        assert watcher.poll() is None, watcher.stderr.read()  # the app's stop spared it
        before = time.time()
        (docs / "office" / "desk.md").write_text("# Desks\n\nHot desks are on floor 5.\n")
        wait_for(lambda: synced(db, before), "a sync after the app stopped")
    finally:
        stop(watcher)
    no_server_left(db)


def test_app_first_then_the_watcher(browser, tree, tally):
    docs, db = tree
    assert spawn("-m", "ingest", str(docs), "--db", str(db), "--json").wait(timeout=120) == 0
    with chat_app(db, docs) as url:
        answered(open_session(browser, url, tally), tally)
        watcher = spawn("-m", "ingest", str(docs), "--db", str(db), "--watch", "--debounce", "0.3")
        try:
            before = time.time()
            (docs / "it" / "printer.md").write_text("# Printers\n\nThe printer queue is PRN-4.\n")
            wait_for(lambda: synced(db, before), "the watcher's sync")
            page = open_session(browser, url, tally, "which print queue do I use")
            answered(page, tally, "PRN-4")
        finally:
            stop(watcher)
        answered(open_session(browser, url, tally), tally)  # the watcher's stop spared the app
    no_server_left(db)


def many_docs(folder: Path, n: int = 150) -> None:
    topics = ["backups", "badges", "travel", "laptops", "printers", "parking", "visitors"]
    for i in range(n):
        topic = topics[i % len(topics)]
        body = "\n\n".join(
            f"## Step {s}\n\nFor {topic} request {i}, step {s} asks the desk to file form "
            f"{topic.upper()}-{i}-{s} and wait for a reply." for s in range(6)
        )  # fmt: skip
        (folder / "bulk" / f"{topic}-{i:03d}.md").parent.mkdir(parents=True, exist_ok=True)
        (folder / "bulk" / f"{topic}-{i:03d}.md").write_text(f"# {topic} {i}\n\n{body}\n")


def test_sessions_answer_while_an_ingest_runs_and_four_open_as_a_rebuild_starts(
    browser, tree, tally
):
    docs, db = tree
    assert spawn("-m", "ingest", str(docs), "--db", str(db), "--json").wait(timeout=120) == 0
    many_docs(docs, 400)
    ingest = spawn("-m", "ingest", str(docs), "--db", str(db), "--json")  # before any session
    try:
        with chat_app(db, docs) as url:
            page = open_session(browser, url, tally)
            assert ingest.poll() is None  # asked while the ingest runs: the last version answers
            answered(page, tally)
            assert ingest.wait(timeout=600) == 0, ingest.stderr.read()
            rebuild = spawn("-m", "ingest", str(docs), "--db", str(db), "--rebuild", "--json")
            pages = [open_session(browser, url, tally) for _ in range(4)]
            for page in pages:
                answered(page, tally)
            assert rebuild.wait(timeout=600) == 0, rebuild.stderr.read()
            answered(open_session(browser, url, tally), tally)
    finally:
        stop(ingest)
    assert tally[0] == tally[1] == 6
    no_server_left(db)


def test_an_empty_index_shows_the_first_ingest_then_answers(browser, tree, tally):
    docs, db = tree
    many_docs(docs, 120)
    with chat_app(db, docs) as url:
        ingest = spawn("-m", "ingest", str(docs), "--db", str(db), "--json")
        try:
            page = new_page(browser)
            tally[1] += 1
            page.goto(url)
            from playwright.sync_api import expect

            expect(page.get_by_text("The first ingest is running").first).to_be_visible(
                timeout=120_000
            )
            assert ingest.wait(timeout=600) == 0, ingest.stderr.read()
            box = page.get_by_test_id("stChatInputTextArea")
            box.wait_for(timeout=120_000)  # the page followed the ingest by itself
            box.fill(QUESTION)
            box.press("Enter")
            answered(page, tally)
        finally:
            stop(ingest)
    no_server_left(db)


def get_json(url: str, body: dict | None = None, key: str = "") -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_api_and_mcp_share_the_index_and_each_stops_alone(tree, tally):
    from accounts.users import Account, ApiKey, User, key_hash, new_api_key, save_account

    docs, db = tree
    assert spawn("-m", "ingest", str(docs), "--db", str(db), "--json").wait(timeout=120) == 0
    users = db.parent / "users.jsonl"
    key_id, key = new_api_key()
    save_account(users, Account(User("bo"), "$argon2id$x", (ApiKey(key_id, key_hash(key)),)))
    env = {"RAG_STORE_URI": str(db), "RAG_USERS_FILE": str(users)}
    api_port, mcp_port = free_port(), free_port()
    api = spawn("-m", "server.api", "--port", str(api_port), env=env)
    mcp = spawn("-m", "server.mcp", "--http", "--port", str(mcp_port), env=env)
    search = f"http://127.0.0.1:{api_port}/v1/search"
    try:
        wait_for(lambda: _ok(f"http://127.0.0.1:{api_port}/readyz"), "the API")
        found = get_json(search, {"query": QUESTION}, key)["data"]
        assert any(ANSWER in row["text"] for row in found)
        wait_for(lambda: _listening(mcp_port), "the MCP server")
        tally[:] = [1, 1]
        stop(api)  # the API started the server; the MCP server must keep it
        assert api.returncode in (0, -signal.SIGTERM, 128 + signal.SIGTERM)
        tally[1] += 1
        assert ANSWER in _mcp_search(mcp_port, key)
        tally[0] += 1
    finally:
        stop(api)
        stop(mcp)
    no_server_left(db)


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _mcp_search(port: int, key: str) -> str:
    """`search_docs` over streamable HTTP with the SDK's own client, as an assistant calls it."""
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    from tests.server.test_mcp import run_apart

    async def run() -> str:
        headers = {"Authorization": f"Bearer {key}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http) as (
                read,
                write,
                *_,
            ),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            result = await session.call_tool("search_docs", {"query": QUESTION})
            return json.dumps([c.model_dump() for c in result.content], ensure_ascii=False)

    return run_apart(run)


LEGACY = {  # file -> (bytes, what a question about it must show)
    "gbk.txt": ("报销：差旅报销单据请在每月二十五日前交给财务部。".encode("gbk"), "二十五日前"),
    "gb2312.html": (
        '<html><head><meta charset="gb2312"></head><body><h1>门禁</h1>'
        "<p>门禁卡丢失请在当天联系前台补办。</p></body></html>".encode("gb2312"),
        "联系前台补办",
    ),
    "utf16.md": ("# 值班\n\n夜间值班电话是八一二三。\n".encode("utf-16"), "八一二三"),
    "big5.txt": ("會議室預訂請在三天前完成。".encode("big5"), "三天前完成"),
}


def test_legacy_encodings_answer_in_the_chat_drawn_in_chinese(browser, tmp_path, tally):
    """GBK text, GB2312 HTML (by its meta charset), UTF-16 and Big5 files: each answers a
    Chinese question in the browser with its passage drawn as Chinese (screenshot kept)."""
    from tests.app.conftest import ARTIFACTS

    docs = tmp_path / "docs"
    docs.mkdir()
    for name, (data, _) in LEGACY.items():
        (docs / name).write_bytes(data)
    db = tmp_path / "index" / "milvus.db"
    assert spawn("-m", "ingest", str(docs), "--db", str(db), "--json").wait(timeout=120) == 0
    questions = {"gbk.txt": "差旅报销最晚什么时候交", "gb2312.html": "门禁卡丢了怎么办",
                 "utf16.md": "晚上值班打哪个电话", "big5.txt": "會議室要提前多久訂"}  # fmt: skip
    with chat_app(db, docs) as url:
        for name, question in questions.items():
            page = open_session(browser, url, tally, question)
            if name == "gb2312.html":
                from playwright.sync_api import expect

                expect(page.get_by_text(LEGACY[name][1]).first).to_be_visible(timeout=120_000)
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "chat-encodings.png"), full_page=True)
            answered(page, tally, LEGACY[name][1])
    assert tally[0] == tally[1] == 4
    no_server_left(db)
