"""The configured model in the retrieval loop: the question's other wordings are searched and
fused; a model that is slow, fails or echoes leaves the plain search; replies are cached.

Real Milvus Lite (the session's corpus index), the real embedder, and the OpenAI-compatible
test server on 127.0.0.1 standing in for the chat model."""

from __future__ import annotations

import time

import pytest

from retrieval.access import ALL
from retrieval.query_model import QueryModel, first_line, open_query_model
from retrieval.search import Retriever, fuse_wordings
from retrieval.types import Hit
from tests.conftest import chat_settings

NONSENSE = "嗯嗯啊啊 哦哦呃呃"  # a Chinese question that matches nothing by itself
LEAVE = "How many days of annual leave do I get per year?"  # the leave policy answers it


def hit(chunk_id: str, standing: float) -> Hit:
    return Hit("d.md", "", chunk_id, 0.0, chunk_id, standing=standing)


def test_fuse_wordings_sums_standings_and_keeps_the_best():
    plain = [hit("a", 3.0), hit("b", 1.0), hit("c", -1.0)]
    translated = [hit("c", 5.0), hit("a", 0.5), hit("d", -2.0)]
    fused = fuse_wordings([plain, translated])
    # a: 3 + .5 = 3.5; c: -1 + 5 = 4; b: 1 + floor(-2) = -1; d: floor(-1) - 2 = -3
    assert [h.chunk_id for h in fused] == ["c", "a", "b", "d"]
    assert fused[0].standing == 5.0 and fused[1].standing == 3.0  # each its best standing


def test_fuse_wordings_by_best_standing_with_a_margin():
    plain = [hit("a", 3.0), hit("b", 1.0)]
    translated = [hit("c", 3.5), hit("d", 2.5), hit("a", 0.0)]
    order = lambda fused: [h.chunk_id for h in fused]  # noqa: E731
    assert order(fuse_wordings([plain, translated], "max")) == ["c", "a", "d", "b"]
    # a margin of 1: the translation's 3.5 counts 2.5, below the question's own 3.0
    fused = fuse_wordings([plain, translated], "max", 1.0)
    assert order(fused) == ["a", "c", "d", "b"] and fused[1].standing == 2.5


def test_interleave_takes_the_rankings_in_turn():
    plain = [hit("a", 3.0), hit("b", 1.0), hit("c", 0.5)]
    translated = [hit("b", 4.0), hit("d", 2.0)]
    fused = fuse_wordings([plain, translated], "interleave")
    assert [h.chunk_id for h in fused] == ["a", "b", "d", "c"]
    assert fused[1].standing == 4.0  # b keeps its best standing


def test_first_line_takes_the_answer_and_drops_labels_and_quotes():
    assert first_line('\n"How do I reset my VPN?"\nextra') == "How do I reset my VPN?"
    assert first_line("Translation: 如何重置 VPN") == "如何重置 VPN"
    assert first_line("   \n") == ""


@pytest.fixture()
def helped(corpus_index, fake_llm):
    """A retriever over the corpus index whose query model is the test server."""
    settings = chat_settings(corpus_index, fake_llm, "plain", query_model_timeout_s=1.0)
    model = open_query_model(settings)
    assert isinstance(model, QueryModel)
    retriever = Retriever(settings, corpus_index.store, corpus_index.embedder, query_model=model)
    fake_llm.translations = {NONSENSE: LEAVE}
    fake_llm.query_delay_s = 0.0
    yield retriever, fake_llm
    model.close()
    fake_llm.translations = {}
    fake_llm.query_delay_s = 0.0


def _leave(hits: list[Hit]) -> list[bool]:
    return [h.doc == "handbook/leave-policy.md" for h in hits]


def test_the_translation_is_searched_and_fused(helped, corpus_index):
    retriever, fake = helped
    plain = corpus_index.retrieve(NONSENSE, 5, access=ALL)
    assert not any(_leave(plain.hits))  # the words alone do not find it
    found = retriever.retrieve(NONSENSE, 5, access=ALL)
    assert _leave(found.hits)[0], [h.heading for h in found.hits]
    asked = fake.query_requests()[-1]["messages"]
    assert "English" in asked[0]["content"] and asked[-1]["content"] == NONSENSE


def test_variants_are_cached_by_question(helped):
    retriever, fake = helped
    retriever.retrieve(NONSENSE, 5, access=ALL)
    calls = len(fake.query_requests())
    again = retriever.retrieve(NONSENSE, 5, access=ALL)
    assert len(fake.query_requests()) == calls
    assert _leave(again.hits)[0]


def test_a_slow_model_leaves_the_plain_search(helped, corpus_index):
    retriever, fake = helped
    fake.query_delay_s = 4.0
    question = "年假有几天"
    fake.translations = {question: LEAVE}
    started = time.perf_counter()
    found = retriever.retrieve(question, 5, access=ALL)
    waited = time.perf_counter() - started
    plain = corpus_index.retrieve(question, 5, access=ALL)
    assert [h.chunk_id for h in found.hits] == [h.chunk_id for h in plain.hits]
    assert waited < fake.query_delay_s  # it went on at its budget (1 s), not the model's 4 s


def test_an_echo_or_a_failing_model_leaves_the_plain_search(corpus_index, fake_llm):
    question = "How many days of annual leave do I get?"
    plain = corpus_index.retrieve(question, 5, access=ALL)
    for dialect in ("plain", "err-500"):  # echoes the question / answers 500
        settings = chat_settings(corpus_index, fake_llm, dialect, llm_max_retries=0)
        model = open_query_model(settings)
        retriever = Retriever(
            settings, corpus_index.store, corpus_index.embedder, query_model=model
        )
        found = retriever.retrieve(question, 5, access=ALL)
        assert [h.chunk_id for h in found.hits] == [h.chunk_id for h in plain.hits], dialect
        model.close()


def test_no_model_or_switched_off_means_no_query_model(corpus_index, fake_llm):
    assert open_query_model(corpus_index.settings) is None
    settings = chat_settings(corpus_index, fake_llm, "plain", query_model=False)
    assert open_query_model(settings) is None


def test_a_model_without_its_key_leaves_the_search_alone(corpus_index, monkeypatch):
    """deepseek-chat with no DEEPSEEK_API_KEY: the answer says so; the search opens without a
    query model instead of failing."""
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    settings = corpus_index.settings.updated(llm="deepseek-chat")
    assert open_query_model(settings) is None
