"""Our batched encoder gives pymilvus's own vectors, on the same ONNX file and tokenizer."""

import numpy as np
import onnxruntime
import pytest
from pymilvus.model.dense.onnx import OnnxEmbeddingFunction
from transformers import AutoTokenizer

from retrieval import embeddings
from retrieval.embeddings import EmbeddingError, load_embedder, minilm_files
from tests.conftest import CORPUS, make_settings


class PymilvusReference(OnnxEmbeddingFunction):
    """pymilvus's DefaultEmbeddingFunction code, pointed at local files instead of the hub."""

    def __init__(self):  # noqa: D107 - skips the hub download, keeps every other line of pymilvus
        onnx_path, tokenizer_json = minilm_files()
        self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_json.parent))
        self.ort_session = onnxruntime.InferenceSession(str(onnx_path))


def corpus_texts(limit: int = 40) -> list[str]:
    from ingest.split import split_markdown

    chunks = []
    for path in sorted(CORPUS.rglob("*.md"))[:12]:
        chunks += split_markdown(path.read_text(encoding="utf-8"), path.name)
    return [c.embed_text for c in chunks][:limit]


QUERIES = [
    "How do I reset my VPN password?",
    "expense limit for client dinners",
    "on-call escalation when the primary does not answer",
    "如何申请年假？",
    "k8s deploy rollback",
]


def test_same_vectors_as_pymilvus(embedder):
    texts = QUERIES + corpus_texts()
    ours = embedder.embed_documents(texts)
    reference = np.array(PymilvusReference().encode_documents(texts))
    assert ours.shape == reference.shape == (len(texts), 384)
    cosines = (ours * reference).sum(axis=1) / np.linalg.norm(reference, axis=1)
    assert cosines.min() >= 0.99999


def test_vectors_are_unit_length_and_order_preserved(embedder):
    texts = ["a much longer text " * 20, "short", "medium length text here"]
    together = embedder.embed_documents(texts)
    alone = np.stack([embedder.embed_documents([t])[0] for t in texts])
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert np.allclose(together, alone, atol=1e-5)


def test_empty_input(embedder):
    assert embedder.embed_documents([]).shape == (0, 384)
    assert embedder.embed_queries([]).shape == (0, 384)


def test_auto_without_an_index_is_the_offline_blend(tmp_path, e5, embedder):
    settings = make_settings(tmp_path, tmp_path, embedding_model="auto")
    blend = load_embedder(settings)
    assert blend.name == embeddings.BLEND_OFFLINE and blend.dim == 384 + 384 + 512
    assert [p.name for p in blend.parts] == ["e5-offline", "minilm-offline", "use-offline"]


def test_blend_scores_the_weighted_mean_of_its_models_cosines(e5, embedder):
    use = embeddings.UseOffline()
    blend = embeddings.BlendEmbedder("blend", [e5, embedder, use])
    passages = ["VPN passwords expire every 90 days.", "食堂早上八点开门。"]
    question = "When does my VPN password expire?"
    stored = blend.embed_documents(passages)
    assert np.allclose(np.linalg.norm(stored, axis=1), 1.0, atol=1e-4)
    cosines = np.stack(
        [p.embed_documents(passages) @ p.embed_queries([question])[0] for p in blend.parts]
    )  # (model, passage)
    query = blend.embed_queries([question])[0]
    assert np.allclose(stored @ query, cosines.mean(axis=0), atol=1e-4)
    weights = [2.0, 0.0, 1.0]
    expected = (2 * cosines[0] + cosines[2]) / 3
    assert np.allclose(stored @ blend.weighted(query, weights), expected, atol=1e-4)
    with pytest.raises(EmbeddingError, match="RAG_BLEND_WEIGHTS"):
        blend.weighted(query, [1.0, 1.0])


def test_use_puts_a_sentence_and_its_translation_together():
    use = embeddings.UseOffline()
    query = use.embed_queries(["食堂几点开门？"])[0]
    passages = use.embed_documents(["The canteen opens at 8 am.", "VPN passwords expire."])
    same, other = passages @ query
    assert same > other + 0.1


def test_e5_puts_its_prefixes_and_crosses_languages(e5):
    assert (e5.info.query_prefix, e5.info.passage_prefix) == ("query: ", "passage: ")
    query = e5.embed_queries(["How do I reset my password?"])[0]
    passages = e5.embed_documents(["如何重置密码：在登录页点击“忘记密码”。", "食堂早上八点开门。"])
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    same, other = passages @ query
    assert same > other + 0.1
    # queries and passages are embedded differently (the prefix is part of the input)
    assert not np.allclose(e5.embed_queries(["VPN"]), e5.embed_documents(["VPN"]))


def test_explicit_milvus_default_offline_is_a_clear_error(tmp_path):
    settings = make_settings(tmp_path, tmp_path, embedding_model="milvus-default")
    with pytest.raises(EmbeddingError, match="RAG_EMBEDDING_MODEL=minilm-offline"):
        load_embedder(settings)


def test_tampered_model_file_is_refused(monkeypatch):
    monkeypatch.setattr(embeddings, "MINILM_SHA256", "0" * 64)
    with pytest.raises(EmbeddingError, match="sha256"):
        minilm_files()


def test_vector_cache_serves_what_it_has_seen_and_keeps_kinds_apart(tmp_path, e5):
    from retrieval.embedcache import CachedEmbedder

    class Counting(embeddings.Embedder):
        def __init__(self, inner):
            self.inner, self.info, self.calls = inner, inner.info, []

        def embed_documents(self, texts):
            self.calls.append(("doc", list(texts)))
            return self.inner.embed_documents(texts)

        def embed_queries(self, texts):
            self.calls.append(("query", list(texts)))
            return self.inner.embed_queries(texts)

    path = tmp_path / "vectors.sqlite"
    first = Counting(e5)
    cached = CachedEmbedder(first, path)
    texts = ["备份多久一次", "restore a vault", "备份多久一次"]
    vectors = cached.embed_documents(texts)
    assert first.calls == [("doc", ["备份多久一次", "restore a vault"])]  # each text once
    cached.close()
    again = Counting(e5)
    reopened = CachedEmbedder(again, path)
    assert np.array_equal(reopened.embed_documents(texts), vectors) and again.calls == []
    reopened.embed_queries(["restore a vault"])  # a query is not a passage: embedded anew
    assert again.calls == [("query", ["restore a vault"])]
    assert reopened.embed_documents([]).shape == (0, 384)
