"""Questions embedded together: the same vectors as alone, one model call for callers that
arrive together, and a lone question straight through (the real multilingual model)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from retrieval.batching import BatchingEmbedder
from retrieval.embeddings import Embedder

QUESTIONS = [
    "how do I reset my VPN password",
    "年假怎么申请",
    "who approves travel expenses",
    "数据库多久备份一次",
    "where is the printer on the third floor",
    "报销需要哪些发票",
]


class Gated(Embedder):
    """The real model, recording each call's texts and on which thread it ran; a call waits
    at the gate while `hold` is set."""

    def __init__(self, inner: Embedder):
        self.inner, self.info = inner, inner.info
        self.calls: list[tuple[list[str], int]] = []
        self.hold = threading.Event()
        self.entered = threading.Event()
        self.fail_on = ""

    def embed_documents(self, texts):
        return self.inner.embed_documents(texts)

    def embed_queries(self, texts):
        self.calls.append((list(texts), threading.get_ident()))
        self.entered.set()
        while self.hold.is_set():
            time.sleep(0.005)
        if self.fail_on in texts:
            raise RuntimeError("the model failed")
        return self.inner.embed_queries(texts)


def waiting(batcher: BatchingEmbedder, n: int, timeout: float = 10.0) -> None:
    """Until n callers queue behind the running batch."""
    deadline = time.monotonic() + timeout
    while len(batcher._waiting) < n:
        assert time.monotonic() < deadline, "callers did not queue"
        time.sleep(0.005)


def test_concurrent_questions_share_one_batch_and_get_their_own_vectors(e5):
    alone = {q: e5.embed_queries([q])[0] for q in QUESTIONS}
    gated = Gated(e5)
    batcher = BatchingEmbedder(gated)
    gated.hold.set()
    with ThreadPoolExecutor(len(QUESTIONS)) as pool:
        first = pool.submit(batcher.embed_queries, [QUESTIONS[0]])
        assert gated.entered.wait(10)  # the first runs at once: the model was idle
        rest = [pool.submit(batcher.embed_queries, [q]) for q in QUESTIONS[1:]]
        waiting(batcher, len(rest))
        gated.hold.clear()
        found = [first.result(30)] + [f.result(30) for f in rest]
    # One call for the first, one for the five that gathered while it ran.
    assert [sorted(texts) for texts, _ in gated.calls] == [[QUESTIONS[0]], sorted(QUESTIONS[1:])]
    assert batcher.batches == 2
    for question, vectors in zip(QUESTIONS, found, strict=True):
        assert vectors.shape == (1, e5.dim)
        np.testing.assert_allclose(vectors[0], alone[question], atol=2e-4)


def test_a_lone_question_runs_on_its_own_thread_at_once(e5):
    gated = Gated(e5)
    batcher = BatchingEmbedder(gated)
    several = batcher.embed_queries(QUESTIONS[:3])
    np.testing.assert_array_equal(several, e5.embed_queries(QUESTIONS[:3]))
    assert gated.calls == [(QUESTIONS[:3], threading.get_ident())]  # no hand-off, no wait
    assert batcher.embed_queries([]).shape == (0, e5.dim)
    assert batcher.embed_documents(["a passage"]).shape == (1, e5.dim)  # passages pass through
    assert batcher.batches == 2 and not batcher._busy


def test_a_failed_batch_fails_its_callers_and_the_next_one_runs(e5):
    gated = Gated(e5)
    batcher = BatchingEmbedder(gated)
    gated.hold.set()
    gated.fail_on = QUESTIONS[2]
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(batcher.embed_queries, [QUESTIONS[0]])
        assert gated.entered.wait(10)
        doomed = [pool.submit(batcher.embed_queries, [q]) for q in QUESTIONS[1:3]]
        waiting(batcher, 2)
        gated.hold.clear()
        assert first.result(30).shape == (1, e5.dim)
        for future in doomed:  # both shared the batch that failed
            with pytest.raises(RuntimeError, match="the model failed"):
                future.result(30)
    assert batcher.embed_queries([QUESTIONS[3]]).shape == (1, e5.dim)
    assert not batcher._busy and not batcher._waiting


def test_a_retriever_batches_the_questions_of_the_embedder_it_loads(tmp_path):
    from retrieval.search import Retriever
    from retrieval.settings import Settings

    settings = Settings(
        _env_file=None, store_uri=str(tmp_path / "milvus.db"), embedding_model="e5-offline"
    )
    retriever = Retriever(settings)  # as every front door builds it (server/serving.py)
    try:
        assert isinstance(retriever.embedder, BatchingEmbedder)
        assert retriever.embedder.name == "e5-offline"
    finally:
        retriever.close()
