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
    ours = embedder.embed(texts)
    reference = np.array(PymilvusReference().encode_documents(texts))
    assert ours.shape == reference.shape == (len(texts), 384)
    cosines = (ours * reference).sum(axis=1) / np.linalg.norm(reference, axis=1)
    assert cosines.min() >= 0.99999


def test_vectors_are_unit_length_and_order_preserved(embedder):
    texts = ["a much longer text " * 20, "short", "medium length text here"]
    together = embedder.embed(texts)
    alone = np.stack([embedder.embed([t])[0] for t in texts])
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert np.allclose(together, alone, atol=1e-5)


def test_empty_input(embedder):
    assert embedder.embed([]).shape == (0, 384)


def test_auto_falls_back_to_offline_model_when_hub_unreachable(tmp_path, caplog):
    settings = make_settings(tmp_path, tmp_path, embedding_model="auto")
    encoder = load_embedder(settings)
    assert encoder.name == embeddings.MINILM_OFFLINE
    assert "EMBEDDING MODEL" in caplog.text


def test_explicit_milvus_default_offline_is_a_clear_error(tmp_path):
    settings = make_settings(tmp_path, tmp_path, embedding_model="milvus-default")
    with pytest.raises(EmbeddingError, match="RAG_EMBEDDING_MODEL=minilm-offline"):
        load_embedder(settings)


def test_tampered_model_file_is_refused(monkeypatch):
    monkeypatch.setattr(embeddings, "MINILM_SHA256", "0" * 64)
    with pytest.raises(EmbeddingError, match="sha256"):
        minilm_files()
