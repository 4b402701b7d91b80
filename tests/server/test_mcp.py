"""The MCP server, driven by the `mcp` SDK's own client over stdio and streamable HTTP: the
tools answer from the index, and a key's user never gets a passage outside their groups."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import anyio
import pytest

from accounts.users import Account, ApiKey, User, key_hash, new_api_key, save_account
from tests.conftest import ROOT, free_port, run_cli

SECRET = "The Kestrel salary band K pays 91,500 euros a year."


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mcp")
    docs = tmp / "docs"
    (docs / "hr").mkdir(parents=True)
    (docs / "leave.md").write_text("# Leave\n\n## Annual leave\n\nStaff get 27 days of leave.\n")
    (docs / "hr" / ".access").write_text("hr\n")
    (docs / "hr" / "bands.md").write_text(f"# Salary bands\n\n## Band K\n\n{SECRET}\n")
    db = str(tmp / "mcp.db")
    assert run_cli("-m", "ingest", str(docs), "--db", db).returncode == 0
    users, keys = tmp / "users.jsonl", {}
    for name, groups in (("bo", ("it",)), ("cy", ("hr",))):
        key_id, keys[name] = new_api_key()
        stored = ApiKey(key_id, key_hash(keys[name]))
        save_account(users, Account(User(name, groups=groups), "$argon2id$x", (stored,)))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAG_STORE_URI": db,
           "RAG_USERS_FILE": str(users), "RAG_EMBEDDING_MODEL": "minilm-offline", "RAG_LLM": "",
           "HF_HUB_OFFLINE": "1"}  # fmt: skip
    return {"env": env, "keys": keys}


def run_apart(async_fn, *args):
    """anyio.run in a thread of its own: the session-wide Playwright browser keeps an event
    loop running in the main thread, where a second one cannot start."""
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = anyio.run(async_fn, *args)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=180)
    if "error" in result:
        raise result["error"]
    return result["value"]


async def session_calls(session) -> dict:
    await session.initialize()
    tools = {t.name for t in (await session.list_tools()).tools}
    found = await session.call_tool("search_docs", {"query": "Kestrel salary band K", "k": 10})
    asked = await session.call_tool("ask_docs", {"question": "What does salary band K pay?"})
    listed = await session.read_resource("docs://documents")
    leave = {"query": "How many days of leave do staff get?", "k": 10, "knowledge": ["hr"]}
    in_hr = await session.call_tool("search_docs", leave)
    in_general = await session.call_tool(
        "ask_docs", {"question": "What does salary band K pay?", "knowledge": ["general"]}
    )
    return {
        "tools": tools,
        "search": json.loads(found.content[0].text),
        "ask": json.loads(asked.content[0].text),
        "documents": json.loads(listed.contents[0].text),
        "in_hr": None if in_hr.is_error else json.loads(in_hr.content[0].text),
        "in_hr_error": in_hr.content[0].text if in_hr.is_error else "",
        "in_general": json.loads(in_general.content[0].text),
    }


def over_stdio(served, who: str) -> dict:
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "server.mcp"],
                                   env={**served["env"], "DOCS_QA_API_KEY": served["keys"][who]},
                                   cwd=str(ROOT))  # fmt: skip

    async def run() -> dict:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            return await session_calls(session)

    return run_apart(run)


def test_stdio_tools_keep_to_the_callers_groups(served):
    bo = over_stdio(served, "bo")
    assert bo["tools"] == {"search_docs", "ask_docs"}
    assert all(row["doc"] != "hr/bands.md" for row in bo["search"])
    listed = [(b["knowledge"], b["documents"]) for b in bo["documents"]]
    assert listed == [("general", ["leave.md"])]
    assert "91,500" not in json.dumps(bo["ask"])
    assert bo["in_hr"] is None and "unknown knowledge base" in bo["in_hr_error"]
    cy = over_stdio(served, "cy")
    assert cy["search"][0]["doc"] == "hr/bands.md"
    assert {b["knowledge"]: b["documents"] for b in cy["documents"]}["hr"] == ["hr/bands.md"]
    assert cy["in_hr"] and {row["doc"] for row in cy["in_hr"]} == {"hr/bands.md"}
    assert cy["in_general"]["knowledge"] == ["general"]
    assert "91,500" not in json.dumps(cy["in_general"])  # band K lives in hr, not general


def test_streamable_http_with_api_keys(served):
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "server.mcp", "--http", "--port", str(port)],
        cwd=ROOT, env=served["env"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx2.get(url, timeout=1)
                break
            except httpx2.HTTPError:
                assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
                time.sleep(0.3)
        assert httpx2.post(url, json={}).status_code == 401  # no key, no tools

        async def run(who: str) -> dict:
            headers = {"Authorization": f"Bearer {served['keys'][who]}"}
            async with (
                httpx2.AsyncClient(headers=headers, timeout=60) as http,
                streamable_http_client(url, http_client=http) as (read, write, *_),
                ClientSession(read, write) as session,
            ):
                return await session_calls(session)

        bo = run_apart(run, "bo")
        assert all(row["doc"] != "hr/bands.md" for row in bo["search"])
        cy = run_apart(run, "cy")
        assert cy["search"][0]["doc"] == "hr/bands.md"
    finally:
        process.terminate()
        process.wait(timeout=30)
