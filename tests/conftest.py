"""Shared fixtures: offline mode, one embedder per session, settings pointing at temp dirs."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # a hub call otherwise stalls ~50 s on machines without it
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from retrieval.embeddings import load_minilm  # noqa: E402
from retrieval.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "docs_corpus"


@pytest.fixture(scope="session")
def embedder():
    """The real offline model, loaded once."""
    return load_minilm()


def make_settings(tmp: Path, docs: Path, **extra) -> Settings:
    """Settings for a test: store in a temp dir, no `.env` read."""
    values = {
        "store_uri": str(tmp / "milvus.db"),
        "docs_dir": docs,
        "embedding_model": "minilm-offline",
        **extra,
    }
    return Settings(_env_file=None, **values)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_docs(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory, embedder):
    """docs_corpus/ ingested once per session into real Milvus Lite; yields a Retriever."""
    from ingest.pipeline import ingest
    from retrieval.search import Retriever
    from retrieval.store import Store

    settings = make_settings(tmp_path_factory.mktemp("corpus"), CORPUS)
    store = Store(settings)
    ingest(settings, store, embedder)
    retriever = Retriever(settings, store, embedder)
    yield retriever
    store.close()


@pytest.fixture(scope="session")
def fake_llm():
    """The OpenAI-compatible test server on 127.0.0.1."""
    from tests.fake_llm import FakeLLM

    server = FakeLLM()
    yield server
    server.stop()


def chat_settings(retriever, fake, dialect: str, **extra) -> Settings:
    """The corpus index's settings, answering with one dialect of the fake server."""
    values = {
        "llm": "custom",
        "llm_base_url": fake.url,
        "llm_model_name": dialect,
        "llm_api_key": "test-key-123",
        "llm_max_retries": 2,
        "llm_timeout_s": 10,
        **extra,
    }
    return retriever.settings.updated(**values)
