"""Pure parts of ranking: fusion, language detection, rerank reply parsing, refusal signals."""

from __future__ import annotations

from dataclasses import replace

import pytest

from retrieval.refusal import signals
from retrieval.rerank import HttpReranker, NoReranker, ordered, picked_scores
from retrieval.search import Retrieval, dense_standing, fuse, fuse_standardised
from retrieval.tokens import language
from retrieval.types import Hit


def hit(name: str, score: float = 0.5) -> Hit:
    return Hit(f"{name}.md", name.upper(), f"text of {name}", score, chunk_id=name)


def names(hits) -> list[str]:
    return [h.chunk_id for h in hits]


def test_rrf_known_answer():
    a, b, c, d = (hit(x) for x in "abcd")
    # a: 1/61 + 1/63, b: 1/62 + 1/61, c: 1/63, d: 1/62
    assert names(fuse([[a, b, c], [b, d, a]], rrf_k=60)) == ["b", "a", "d", "c"]
    assert names(fuse([[a, b]], rrf_k=60)) == ["a", "b"]


def test_weighted_rrf_and_ties_keep_first_list_order():
    a, b = hit("a"), hit("b")
    assert names(fuse([[a, b], [b, a]], 60)) == ["a", "b"]  # equal scores: first list wins
    assert names(fuse([[a, b], [b, a]], 60, [1.0, 2.0])) == ["b", "a"]
    assert names(fuse([[a, b], [b, a]], 60, [1.0, 0.0])) == ["a", "b"]
    with pytest.raises(ValueError):
        fuse([[a], [b]], 60, [1.0])


def test_language_of_text():
    assert language("How do I reset the VPN?") == "en"
    assert language("如何重置 VPN 密码？") == "zh"
    assert language("用 kubectl rollout undo 回滚到上一个版本") == "zh"
    assert language("运行 `kubectl rollout undo deployment/api --to-revision=3`") == "en"
    assert language("") == "en" and language("12345") == "en"


def test_picked_scores_from_llm_reply():
    assert picked_scores("3, 1", 4) == pytest.approx([2 / 3, 0.0, 1.0, 0.0])
    assert picked_scores("0", 3) == [0.0, 0.0, 0.0]
    assert picked_scores("Passages 2 and 2 and 9 help", 3) == [0.0, 1.0, 0.0]
    assert picked_scores("", 2) == [0.0, 0.0]


def test_ordered_attaches_scores_best_first():
    a, b, c = hit("a"), hit("b"), hit("c")
    out = ordered([a, b, c], [0.1, 0.9, 0.1])
    assert names(out) == ["b", "a", "c"] and [h.rerank_score for h in out] == [0.9, 0.1, 0.1]
    assert NoReranker().rerank("q", [a]) is None


def test_both_rerank_response_shapes():
    tei = [{"index": 1, "score": 0.8}, {"index": 0, "score": 0.2}]
    cohere = {
        "results": [{"index": 0, "relevance_score": 0.3}, {"index": 1, "relevance_score": 0.7}]
    }
    assert HttpReranker._scores(tei, 2) == [0.2, 0.8]
    assert HttpReranker._scores(cohere, 2) == [0.3, 0.7]


def test_dense_standing_is_centred_per_language():
    # English passages score higher for an English query whatever they say; the Chinese
    # list's best stands out as far above its own usual match, so they stand level
    english = [hit("e1", 0.90), hit("e2", 0.80), hit("e3", 0.80)]
    chinese = [hit("z1", 0.80), hit("z2", 0.70), hit("z3", 0.70)]
    standing = dense_standing([english, chinese])
    assert standing["e1"] == pytest.approx(standing["z1"]) and standing["e1"] > standing["e2"]
    assert standing["e2"] == pytest.approx(standing["z3"])
    assert [h.chunk_id for h in fuse_standardised([english, chinese], [], 0.5)][:2] == ["e1", "z1"]
    # a BM25 hit lifts a passage that dense search ranked lower
    lexical = [replace(hit("e3"), lexical_score=9.0), replace(hit("e2"), lexical_score=1.0)]
    fused = fuse_standardised([english], lexical, 2.0)
    assert [h.chunk_id for h in fused] == ["e3", "e1", "e2"]


def test_signals_of_a_retrieval():
    top, second = hit("a", 0.9), hit("b", 0.6)
    dense = [top, second, hit("c", 0.5), hit("d", 0.4), hit("e", 0.3), hit("f", 0.2)]
    found = Retrieval("q", [top, second], dense, [second, top], standout=2.5)
    s = signals(found)
    assert s.top == 0.9 and s.gap == pytest.approx(0.6) and s.agree and s.rerank is None
    assert s.standout == 2.5
    assert not signals(Retrieval("q", [top], dense, [second])).agree
    empty = signals(Retrieval("q", []))
    assert empty.top == float("-inf") and not empty.agree


def test_weak_match_and_refusal_floor_read_standing_agreement_and_rerank_scores():
    from retrieval.refusal import Verdict, below_floor, is_weak, judge
    from retrieval.settings import Settings

    settings = Settings(_env_file=None)
    other = hit("b", 0.80)
    pool = [hit("a", 0.85), other] + [hit(f"p{i}", 0.5) for i in range(18)]

    def found(strength, z=3.0, lexical=(), hits=None, dense=pool):
        top = replace(hit("a", 0.85), standing=strength)
        return Retrieval("q", list(hits if hits is not None else [top]), dense, list(lexical),
                         standout=z)  # fmt: skip

    assert not is_weak(found(4.0), settings)
    assert is_weak(found(3.0), settings)  # does not stand out in the fused ranking
    assert is_weak(found(4.0, z=1.5), settings)  # nor among the dense candidates
    assert is_weak(found(4.0, hits=[]), settings)
    reranked = [replace(hit("a", 0.85), rerank_score=0.0)]
    assert is_weak(found(4.0, hits=reranked), settings)  # the reranker found nothing
    assert not is_weak(found(1.0, hits=[replace(hit("a"), rerank_score=0.7)]), settings)
    assert not is_weak(found(3.0), settings.updated(weak_below=0))
    assert not is_weak(found(1.0, dense=pool[:4]), settings)  # a tiny index: no z rule
    # the no-model floor: far below the weak line, and never when BM25 confirms the passage
    assert below_floor(found(1.0), settings) and below_floor(found(4.0, hits=[]), settings)
    assert not below_floor(found(3.0), settings)
    assert not below_floor(found(1.0, lexical=[hit("a")]), settings)
    assert below_floor(found(1.0, lexical=[other]), settings)
    # with a model only an empty retrieval is refused; a weak one goes on, flagged
    assert judge(found(1.0), settings, with_model=True) == Verdict(refuse=False, weak=True)
    assert judge(found(4.0, hits=[]), settings, with_model=True).refuse
    assert judge(found(1.0), settings, with_model=False).refuse
    verdict = judge(found(3.0), settings, with_model=False)
    assert not verdict.refuse and verdict.weak


def test_a_question_over_a_one_language_index_is_weighed_for_that_language_pair():
    """An English question over a Chinese-only index searches with the English > Chinese
    weights of the blend (across languages), not English > English (MiniLM, English only)."""
    from types import SimpleNamespace

    import numpy as np

    from retrieval.search import Retriever
    from retrieval.settings import Settings

    class Weights:  # the query vector becomes the weights it was given, to be seen below
        def weighted(self, vector, weights):
            return np.asarray(weights, dtype=np.float32)

    class Store:
        asked: list = []

        def dense_search(self, vector, k, at, lang=""):
            self.asked.append((list(vector), lang))
            return []

    settings = Settings(_env_file=None)
    retriever = Retriever(settings, Store(), Weights())
    try:
        for held, asked in [(("zh",), "en"), (("en",), "zh"), (("zh",), "zh")]:
            Store.asked.clear()
            info = SimpleNamespace(languages=held)
            retriever._dense_rankings(asked, np.zeros(3), 10, info, None)
            assert Store.asked == [(settings.blend_weights[f"{asked}>{held[0]}"], "")]
    finally:
        retriever._threads.shutdown()
