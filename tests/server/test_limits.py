"""One set of limits at every front door, tried as an attacker with a key would: odd types,
whitespace, sizes, deep nesting, bytes that are not UTF-8, a body sent in chunks with no length,
too many calls; each refusal a 4xx in the door's own shape (OpenAI's on the API, the MCP SDK's
tool error on MCP), before any work. Then a hypothesis fuzz of both doors: never a 500, never
over the time budget. Real index, real embedder, the real app in process."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st

from accounts.users import Account, ApiKey, User, key_hash, new_api_key, save_account
from ingest.pipeline import ingest
from retrieval.search import Retriever
from retrieval.store import Store
from server.api import create_app
from server.mcp import Docs, build
from tests.conftest import SMALL, make_settings, write_docs
from tests.server.test_mcp import run_apart

BUDGET_S = 20.0  # the fuzz's ceiling per request (the product's default is 120 s)


@pytest.fixture(scope="module")
def door(tmp_path_factory, embedder):
    tmp = tmp_path_factory.mktemp("limits")
    docs = write_docs(tmp / "docs", SMALL)
    users = tmp / "users.jsonl"
    key_id, key = new_api_key()
    bo = User("bo", groups=("it",))
    save_account(users, Account(bo, "$argon2id$x", (ApiKey(key_id, key_hash(key)),)))
    settings = make_settings(tmp, docs, users_file=users, api_rate_per_minute=100_000,
                             request_budget_s=BUDGET_S)  # fmt: skip
    store = Store(settings)
    ingest(settings, store, embedder)
    retriever = Retriever(settings, store, embedder)
    api = TestClient(create_app(settings, retriever), raise_server_exceptions=False)
    api.headers["Authorization"] = f"Bearer {key}"
    docs_tools = Docs(settings, retriever, lambda: bo)
    yield {"api": api, "mcp": build(docs_tools), "docs": docs_tools, "settings": settings,
           "retriever": retriever}  # fmt: skip
    store.close()


def openai_error(response, status: int) -> str:
    assert response.status_code == status, response.text[:300]
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code"} and error["message"]
    return error["message"]


@pytest.mark.parametrize(
    "body, says",
    [
        ({"query": "   \n\t "}, "empty"),
        ({"query": "vpn", "k": "5"}, "k"),
        ({"query": "vpn", "k": True}, "k"),
        ({"query": "vpn", "k": 5.0}, "k"),
        ({"query": "vpn", "k": 0}, "k"),
        ({"query": "vpn", "k": 51}, "k"),
        ({"query": "x" * 4_001}, "too long"),
        ({"query": 5}, "query"),
        ({"query": "vpn", "knowledge": "it"}, "knowledge"),
    ],
)
def test_api_refuses_bad_search_input_in_openai_shape(door, body, says):
    assert says in openai_error(door["api"].post("/v1/search", json=body), 400)


def test_api_refuses_a_blank_question_and_stray_types_in_chat(door):
    blank = {"model": "retrieval-only", "messages": [{"role": "user", "content": "  "}]}
    assert "empty" in openai_error(door["api"].post("/v1/chat/completions", json=blank), 400)
    odd = {**blank, "messages": [{"role": "user", "content": "vpn"}], "stream": "yes"}
    assert "stream" in openai_error(door["api"].post("/v1/chat/completions", json=odd), 400)


def test_api_bodies_that_are_not_json_get_openai_shape(door):
    api = door["api"]
    latin1 = '{"query": "caf\xe9"}'.encode("latin-1")
    deep = b"[" * 100_000 + b"]" * 100_000
    for body in (latin1, b"\xff\xfe\x00garbage", deep, b'{"query": "vpn",'):
        response = api.post(
            "/v1/search", content=body, headers={"Content-Type": "application/json"}
        )
        openai_error(response, 400)
    deep_object = b'{"query": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}"
    openai_error(api.post("/v1/search", content=deep_object,
                          headers={"Content-Type": "application/json"}), 400)  # fmt: skip


def test_a_chunked_body_past_the_limit_is_refused_as_it_arrives(door):
    def chunks():
        for _ in range(30):
            yield b" " * 100_000  # 3 MB, no Content-Length

    response = door["api"].post("/v1/search", content=chunks(),
                                headers={"Content-Type": "application/json"})  # fmt: skip
    assert "too large" in openai_error(response, 413)


def test_schema_pages_are_off_and_readyz_says_no_count_to_strangers(door, embedder):
    api = door["api"]
    anonymous = {"Authorization": ""}
    for path in ("/docs", "/openapi.json", "/redoc"):
        openai_error(api.get(path, headers=anonymous), 404)
    assert api.get("/readyz", headers=anonymous).json() == {"status": "ready"}
    assert api.get("/readyz").json()["chunks"] > 0  # with a key
    shown = create_app(door["settings"].updated(api_docs=True), door["retriever"])
    assert TestClient(shown).get("/openapi.json").status_code == 200


def test_a_request_over_its_budget_is_cut_off(door):
    tight = create_app(door["settings"].updated(request_budget_s=0.001), door["retriever"])
    client = TestClient(tight)
    client.headers["Authorization"] = door["api"].headers["Authorization"]
    response = client.post("/v1/search", json={"query": "How long do VPN passwords last?"})
    assert "budget" in openai_error(response, 504)


async def call(server, tool: str, arguments: dict) -> tuple[bool, str, float]:
    from mcp import Client

    async with Client(server) as client:
        started = time.perf_counter()
        result = await client.call_tool(tool, arguments)
        return result.is_error, result.content[0].text, time.perf_counter() - started


def test_mcp_refuses_a_megabyte_query_in_under_a_second(door):
    is_error, text, took = run_apart(call, door["mcp"], "search_docs", {"query": "x" * 1_000_000})
    assert is_error and took < 1.0, (text[:200], took)
    assert "1000000" not in text or len(text) < 2_000  # the query is not echoed back whole


@pytest.mark.parametrize(
    "arguments",
    [
        {"query": "vpn", "k": 0},
        {"query": "vpn", "k": -5},
        {"query": "vpn", "k": 100_000},
        {"query": "vpn", "k": "5"},
        {"query": "vpn", "k": True},
        {"query": "   "},
        {"query": "vpn", "knowledge": ["x" * 1_000]},
    ],
)
def test_mcp_search_refuses_what_the_api_refuses(door, arguments):
    is_error, text, _ = run_apart(call, door["mcp"], "search_docs", arguments)
    assert is_error, text


def test_mcp_has_a_rate_per_user(door):
    docs = door["docs"]
    docs.rate.per_minute, saved = 2, docs.rate.per_minute
    docs.rate._calls.clear()
    try:
        results = [run_apart(call, door["mcp"], "search_docs", {"query": "vpn"}) for _ in range(3)]
        assert [r[0] for r in results] == [False, False, True]
        assert "rate limit" in results[2][1]
    finally:
        docs.rate.per_minute = saved
        docs.rate._calls.clear()


# --- fuzz ---------------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.text(max_size=50), st.text(alphabet=st.characters(codec="utf-8"), min_size=4_000,
                                  max_size=4_200),
)  # fmt: skip
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                      max_leaves=12)  # fmt: skip
queries = st.one_of(values, st.text(min_size=1, max_size=300))
FUZZ = fuzz_settings(max_examples=25, deadline=None, derandomize=True,
                     suppress_health_check=list(HealthCheck))  # fmt: skip


@FUZZ
@given(query=queries, k=st.one_of(st.just(5), values), knowledge=st.one_of(st.none(), values))
def test_fuzz_api_search_never_500s_nor_overruns(door, query, k, knowledge):
    body = {"query": query, "k": k, "knowledge": knowledge}
    started = time.perf_counter()
    response = door["api"].post("/v1/search", content=json.dumps(body),
                                headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code < 500, response.text[:300]
    assert time.perf_counter() - started < BUDGET_S
    if response.status_code >= 400:
        openai_error(response, response.status_code)


@FUZZ
@given(content=values, role=st.one_of(st.just("user"), values), stream=values)
def test_fuzz_api_chat_never_500s_nor_overruns(door, content, role, stream):
    body = {"model": "retrieval-only", "messages": [{"role": role, "content": content}],
            "stream": stream}  # fmt: skip
    started = time.perf_counter()
    response = door["api"].post("/v1/chat/completions", content=json.dumps(body),
                                headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code < 500, response.text[:300]
    assert time.perf_counter() - started < BUDGET_S


@FUZZ
@given(
    query=queries,
    extra=st.dictionaries(st.sampled_from(["k", "knowledge", "x"]),
                          st.one_of(st.integers(-5, 100), values), max_size=3),
)  # fmt: skip
def test_fuzz_mcp_tools_never_fail_nor_overrun(door, query, extra):
    for tool, field in (("search_docs", "query"), ("ask_docs", "question")):
        arguments = {field: query, **extra}
        _, text, took = run_apart(call, door["mcp"], tool, arguments)  # raises on a server fault
        assert took < BUDGET_S and "Traceback" not in text


def test_a_streamed_answer_stops_at_its_budget():
    from retrieval.limits import LimitError, within_budget_stream

    closed = []

    def slow():
        try:
            for n in range(100):
                time.sleep(0.02)
                yield n
        finally:
            closed.append(True)

    got = []
    with pytest.raises(LimitError, match="budget") as over:
        got.extend(within_budget_stream(slow(), 0.1))
    assert over.value.kind == "timeout" and 3 <= len(got) < 20 and closed == [True]
    assert list(within_budget_stream(iter([1, 2]), 5)) == [1, 2]


def test_readyz_tells_strangers_nothing_of_why(door):
    class Broken:  # a store that cannot be opened, its error naming a path
        def info(self):
            raise RuntimeError("cannot open /srv/secret/data/milvus.db")

    class Shell:
        store = Broken()

    app = create_app(door["settings"], Shell())
    stranger = TestClient(app).get("/readyz")
    assert stranger.status_code == 503 and "/srv" not in stranger.text
    keyed = TestClient(app).get("/readyz", headers=dict(door["api"].headers))
    assert keyed.status_code == 503 and "/srv/secret" in keyed.json()["reason"]
