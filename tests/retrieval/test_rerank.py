"""Rerankers through the retriever: the HTTP shapes (TEI and Cohere/vLLM), the LLM reranker,
failures that keep the search order."""

from __future__ import annotations

import pytest

from retrieval.access import ALL
from retrieval.rerank import HttpReranker, LLMReranker, load_reranker
from retrieval.search import Retriever
from tests.fake_rerank import FakeReranker


@pytest.fixture(scope="module")
def fake_rerank():
    server = FakeReranker()
    yield server
    server.stop()


QUESTION = "annual leave days carry over"


@pytest.mark.parametrize("api,path", [("tei", "/rerank"), ("cohere", "/v1/rerank")])
def test_http_reranker_orders_the_candidates(corpus_index, fake_rerank, api, path):
    settings = corpus_index.settings.updated(
        rerank="http", rerank_url=fake_rerank.url + path, rerank_api=api, rerank_model="bge-rr"
    )
    reranker = load_reranker(settings)
    assert isinstance(reranker, HttpReranker)
    retriever = Retriever(settings, corpus_index.store, corpus_index.embedder, reranker)
    found = retriever.retrieve(QUESTION, 5, access=ALL)
    assert found.reranked and len(found.hits) == 5
    scores = [h.rerank_score for h in found.hits]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    sent_path, body = fake_rerank.requests[-1]
    assert sent_path == path and body["query"] == QUESTION
    texts = body["texts"] if api == "tei" else body["documents"]
    assert len(texts) == settings.rerank_candidates  # the reranker sees the whole pool
    assert (api == "cohere") == (body.get("model") == "bge-rr")


def test_failing_reranker_keeps_the_search_order(corpus_index, fake_rerank, caplog):
    settings = corpus_index.settings.updated(rerank="http", rerank_url=fake_rerank.url + "/rerank")
    plain = corpus_index.retrieve("boom " + QUESTION, 5, access=ALL)
    retriever = Retriever(settings, corpus_index.store, corpus_index.embedder)
    found = retriever.retrieve("boom " + QUESTION, 5, access=ALL)
    assert not found.reranked and [h.chunk_id for h in found.hits] == [
        h.chunk_id for h in plain.hits
    ]
    assert "keeping the search order" in caplog.text


def test_llm_reranker_uses_the_chat_model_in_one_short_call(corpus_index, fake_llm):
    from tests.conftest import chat_settings

    settings = chat_settings(corpus_index, fake_llm, "rerank", rerank="llm")
    reranker = load_reranker(settings)
    assert isinstance(reranker, LLMReranker)
    before = len(fake_llm.requests)
    found = Retriever(settings, corpus_index.store, corpus_index.embedder, reranker).retrieve(
        QUESTION, 5, access=ALL
    )
    assert len(fake_llm.requests) == before + 1
    request = fake_llm.requests[-1]
    assert request["max_tokens"] == 60 and "<question>" in request["messages"][-1]["content"]
    assert found.reranked and found.hits[0].rerank_score == 1.0


def test_misconfigured_rerankers_are_clear_errors(corpus_index):
    with pytest.raises(ValueError, match="RAG_RERANK_URL"):
        load_reranker(corpus_index.settings.updated(rerank="http"))
    with pytest.raises(ValueError, match="needs a chat model"):
        load_reranker(corpus_index.settings.updated(rerank="llm"))
