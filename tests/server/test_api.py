"""The OpenAI-compatible API, served by uvicorn on 127.0.0.1, called with the real `openai`
client (streaming and not, the sources field read back) and with httpx for the rest: keys,
groups, rate limits, bad requests and a client that drops a stream halfway."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import openai
import pytest
from pydantic import SecretStr

from accounts.users import Account, ApiKey, User, key_hash, new_api_key, save_account
from ingest.pipeline import ingest
from retrieval.search import Retriever
from retrieval.store import Store
from server.api import create_app
from tests.conftest import free_port, make_settings
from tests.fake_llm import USAGE

LEAVE = "Who approves my leave request?"  # in the corpus's HR handbook, weak in IT help
SECRET = "The Kestrel salary band K pays 91,500 euros a year."


def make_key(name: str) -> tuple[ApiKey, str]:
    key_id, key = new_api_key()
    return ApiKey(key_id, key_hash(key)), key


@pytest.fixture(scope="module")
def api(tmp_path_factory, embedder, fake_llm):
    tmp = tmp_path_factory.mktemp("api")
    docs = tmp / "docs"
    (docs / "hr").mkdir(parents=True)
    (docs / "leave.md").write_text(
        "# Leave\n\n## Annual leave\n\nFull-time staff get 27 days of paid annual leave.\n"
    )
    (docs / "vpn.md").write_text("# VPN\n\n## Reset\n\nReset the VPN password in the portal.\n")
    (docs / "hr" / ".access").write_text("hr\n")
    (docs / "hr" / "bands.md").write_text(f"# Salary bands\n\n## Band K\n\n{SECRET}\n")
    (docs / "it").mkdir()
    (docs / "it" / "printers.md").write_text(
        "# Printers\n\n## Paper jams\n\nOpen tray 2 and pull the jammed paper out gently.\n"
    )
    users = tmp / "users.jsonl"
    keys = {}
    for name, groups, admin in (("ana", (), True), ("bo", ("it",), False), ("cy", ("hr",), False)):
        stored, keys[name] = make_key(name)
        save_account(
            users, Account(User(name, groups=groups, admin=admin), "$argon2id$x", (stored,))
        )
    settings = make_settings(
        tmp, docs, users_file=users, llm="custom", llm_base_url=fake_llm.url,
        llm_model_name="chat", llm_api_key="test-key", llm_max_retries=0,
        api_rate_per_minute=1000, weak_standout=0,
    )  # fmt: skip
    store = Store(settings)
    ingest(settings, store, embedder)
    app = create_app(settings, Retriever(settings, store, embedder))
    with served(app) as url:
        yield {"url": url, "keys": keys, "users": users, "app": app}
    store.close()


@contextmanager
def served(app) -> Iterator[str]:
    """The app under uvicorn on a free port of 127.0.0.1; yields its URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def client(api, who: str = "bo") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api['url']}/v1", api_key=api["keys"][who], max_retries=0)


def test_models_and_a_plain_completion_with_sources(api):
    listed = [m.id for m in client(api).models.list()]
    assert listed == ["custom", "retrieval-only", "docs-qa/general", "docs-qa/it"]
    reply = client(api).chat.completions.create(
        model="custom", messages=[{"role": "user", "content": "How many days of annual leave?"}]
    )
    assert reply.choices[0].message.content.startswith("According to the docs")
    sources = reply.model_extra["sources"]
    assert sources[0]["doc"] == "leave.md" and sources[0]["relevance"] > 0
    assert reply.choices[0].message.content.endswith("[1].")
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == USAGE  # as reported
    assert reply.usage.total_tokens == sum(USAGE)


def test_a_streamed_completion_ends_with_its_sources(api):
    stream = client(api).chat.completions.create(
        model="custom",
        stream=True,
        messages=[
            {"role": "user", "content": "What is the VPN?"},
            {"role": "assistant", "content": "It is our remote access."},
            {"role": "user", "content": "How do I reset it?"},
        ],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.startswith("According to the docs")
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert any(s["doc"] == "vpn.md" for s in chunks[-1].model_extra["sources"])
    assert chunks[-1].usage.completion_tokens == USAGE[1]


def test_retrieval_only_model(api):
    reply = client(api).chat.completions.create(
        model="retrieval-only", messages=[{"role": "user", "content": "annual leave days"}]
    )
    assert (
        "[1]" in reply.choices[0].message.content
        and reply.model_extra["status"] == "retrieval_only"
    )


def test_search_applies_the_callers_groups(api):
    def docs(who: str) -> set[str]:
        query = {"query": "Kestrel salary band K", "k": 10}
        headers = {"Authorization": f"Bearer {api['keys'][who]}"}
        response = httpx.post(f"{api['url']}/v1/search", json=query, headers=headers)
        assert response.status_code == 200
        return {row["doc"] for row in response.json()["data"]}

    assert "hr/bands.md" not in docs("bo")
    assert "hr/bands.md" in docs("cy") and "hr/bands.md" in docs("ana")
    reply = client(api, "bo").chat.completions.create(
        model="custom", messages=[{"role": "user", "content": "What does salary band K pay?"}]
    )
    assert "91,500" not in reply.choices[0].message.content
    assert all(s["doc"] != "hr/bands.md" for s in reply.model_extra["sources"])


def test_keys_are_checked_revoked_and_follow_the_users_file(api):
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url=f"{api['url']}/v1", api_key="dqa_nope_x", max_retries=0
        ).models.list()
    assert httpx.get(f"{api['url']}/v1/models").status_code == 401
    from accounts.users import load_users

    accounts = load_users(api["users"]).accounts
    cy = accounts["cy"]
    save_account(api["users"], Account(User("cy", groups=()), cy.password_hash, cy.keys))
    time.sleep(0.01)  # a new mtime: the group was removed, the key now reads as nobody's
    response = httpx.post(f"{api['url']}/v1/search", json={"query": "Kestrel salary band K"},
                          headers={"Authorization": f"Bearer {api['keys']['cy']}"})  # fmt: skip
    assert "hr/bands.md" not in {row["doc"] for row in response.json()["data"]}
    save_account(api["users"], Account(cy.user, cy.password_hash, ()))  # revoked
    with pytest.raises(openai.AuthenticationError):
        client(api, "cy").models.list()
    save_account(api["users"], cy)


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        (b"{not json", 400, ""),
        (b'{"model": "custom", "messages": []}', 400, "user message"),
        (
            b'{"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}',
            404,
            "unknown model",
        ),
        (
            b'{"model": "custom", "messages": [{"role": "user", "content": "'
            + b"x" * 5000
            + b'"}]}',
            400,
            "too long",
        ),
        (
            b'{"model": "custom", "messages": [{"role": "user", "content": "'
            + b"x" * 2_000_000
            + b'"}]}',
            413,
            "too large",
        ),  # fmt: skip
    ],
)
def test_bad_requests_get_openai_shaped_errors(api, body, status, text):
    response = httpx.post(f"{api['url']}/v1/chat/completions", content=body,
                          headers={"Authorization": f"Bearer {api['keys']['bo']}",
                                   "Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == status
    assert text in response.json()["error"]["message"]


def test_rate_limit_per_key(api):
    service = api["app"].state.service
    service.limit.per_minute, saved = 2, service.limit.per_minute
    service.limit._calls.clear()
    try:
        headers = {"Authorization": f"Bearer {api['keys']['ana']}"}
        codes = [
            httpx.get(f"{api['url']}/v1/models", headers=headers).status_code for _ in range(3)
        ]
        assert codes == [200, 200, 429]
        other = {"Authorization": f"Bearer {api['keys']['bo']}"}
        assert httpx.get(f"{api['url']}/v1/models", headers=other).status_code == 200
    finally:
        service.limit.per_minute = saved


def test_a_dropped_stream_leaks_no_thread(api, fake_llm):
    baseline = threading.active_count()
    question = {"role": "user", "content": "How many days of annual leave?"}
    body = {"model": "custom", "stream": True, "messages": [question]}
    headers = {"Authorization": f"Bearer {api['keys']['bo']}"}
    with httpx.stream("POST", f"{api['url']}/v1/chat/completions", json=body, headers=headers) as r:
        next(r.iter_lines())  # the first chunk, then the client goes away
    deadline = time.monotonic() + 10
    while threading.active_count() > baseline + 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert threading.active_count() <= baseline + 1
    assert httpx.get(f"{api['url']}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{api['url']}/readyz").json()["status"] == "ready"


def test_knowledge_bases_are_models_and_a_filter_that_holds(api):
    """bo may read general and it; cy also hr (closed to bo: not listed, not searchable)."""
    cy = [m.id for m in client(api, "cy").models.list()]
    assert "docs-qa/hr" in cy and "docs-qa/hr" not in [m.id for m in client(api).models.list()]
    url, headers = f"{api['url']}/v1/search", {"Authorization": f"Bearer {api['keys']['bo']}"}
    asked = {"query": "How many days of annual leave?", "k": 5}
    everywhere = httpx.post(url, json=asked, headers=headers).json()["data"]
    assert {p["knowledge"] for p in everywhere} == {"general", "it"}
    within = httpx.post(url, json={**asked, "knowledge": ["it"]}, headers=headers).json()["data"]
    assert within and {p["doc"] for p in within} == {"it/printers.md"}
    refused = httpx.post(url, json={**asked, "knowledge": ["hr"]}, headers=headers)
    assert refused.status_code == 404 and "hr" in refused.json()["error"]["message"]
    assert refused.json()["error"]["code"] == "knowledge_not_found"
    turns = [
        {"role": "user", "content": "What does band K pay?"},
        {"role": "assistant", "content": "The Kestrel band K pays 91,500 euros."},
        {"role": "user", "content": "And how many days of annual leave?"},
    ]
    reply = client(api, "cy").chat.completions.create(model="docs-qa/hr", messages=turns)
    sources = reply.model_extra["sources"]
    assert sources and {s["knowledge"] for s in sources} == {"hr"}
    assert reply.model_extra["knowledge"] == ["hr"]
    with pytest.raises(openai.NotFoundError):  # bo may not read hr: no such model for bo
        client(api).chat.completions.create(model="docs-qa/hr", messages=turns[:1])
    streamed = client(api).chat.completions.create(
        model="custom", messages=turns[2:], stream=True, extra_body={"knowledge": ["it"]}
    )
    last = [chunk for chunk in streamed][-1]
    assert {s["doc"] for s in last.model_extra["sources"]} <= {"it/printers.md"}
    assert last.model_extra["knowledge"] == ["it"]


def test_a_streamed_answer_from_a_weak_pick_names_the_base_that_has_it(
    tmp_path_factory, corpus_index, fake_llm
):
    """The corpus (shared with tests/retrieval/test_elsewhere.py): a leave question asked of IT
    help alone matches weakly there and strongly in the HR handbook; the stream's last chunk
    says so in `elsewhere`, as the plain completion does."""
    users = tmp_path_factory.mktemp("elsewhere") / "users.jsonl"
    stored, key = make_key("ana")
    save_account(users, Account(User("ana", admin=True), "$argon2id$x", (stored,)))
    model = {"llm": "custom", "llm_base_url": fake_llm.url, "llm_model_name": "chat",
             "llm_api_key": SecretStr("test-key"), "llm_max_retries": 0}  # fmt: skip
    settings = corpus_index.settings.model_copy(update={"users_file": users, **model})
    with served(create_app(settings, corpus_index)) as url:
        ana = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
        asked = {"model": "custom", "messages": [{"role": "user", "content": LEAVE}]}
        plain = ana.chat.completions.create(**asked, extra_body={"knowledge": ["it"]})
        streamed = ana.chat.completions.create(
            **asked, stream=True, extra_body={"knowledge": ["it"]}
        )
        last = list(streamed)[-1]
        right = ana.chat.completions.create(**asked, stream=True, extra_body={"knowledge": ["hr"]})
        assert plain.model_extra["elsewhere"] == "hr"
        assert last.choices[0].finish_reason == "stop" and last.model_extra["weak_match"]
        assert last.model_extra["elsewhere"] == "hr"
        assert list(right)[-1].model_extra["elsewhere"] == ""
