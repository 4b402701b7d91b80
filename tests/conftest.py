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


def write_docs(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder
