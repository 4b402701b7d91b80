"""The vector index's parameters (RAG_HNSW_M, RAG_HNSW_EF_CONSTRUCTION, RAG_IVF_NLIST,
RAG_IVF_NPROBE) reach index creation and every dense search, on a real Milvus Lite file. Lite
does not report build parameters: store_server_cases.py reads them back from a real server."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.access import ALL
from retrieval.settings import Settings
from retrieval.store import Store
from retrieval.store.schema import ChunkRow, build_params

DIM = 8


def rows(count: int) -> list[ChunkRow]:
    vectors = np.random.default_rng(7).standard_normal((count, DIM)).astype(np.float32)
    return [
        ChunkRow(
            id=f"c{i}",
            doc="d.md",
            heading="h",
            text=f"text {i}",
            text_hash=f"t{i}",
            doc_hash="d",
            vector=v,
            search_text=f"text {i}",
            lang="en",
        )  # fmt: skip
        for i, v in enumerate(vectors)
    ]


def settings(tmp_path, **extra) -> Settings:
    return Settings(_env_file=None, store_uri=str(tmp_path / "milvus.db"), **extra)


def test_build_params_follow_the_settings_for_each_index_type(tmp_path):
    chosen = settings(tmp_path, hnsw_m=32, hnsw_ef_construction=120, ivf_nlist=256)
    assert build_params("HNSW", chosen) == {"M": 32, "efConstruction": 120}
    assert build_params("IVF_FLAT", chosen) == {"nlist": 256}
    assert build_params("FLAT", chosen) == {}
    assert build_params("HNSW", settings(tmp_path)) == {"M": 16, "efConstruction": 200}


@pytest.mark.parametrize(
    ("index_type", "extra", "params"),
    [
        ("IVF_FLAT", {"ivf_nlist": 4, "ivf_nprobe": 3}, {"nprobe": 3}),
        ("HNSW", {"hnsw_m": 8, "hnsw_ef": 50}, {"ef": 50}),
        ("FLAT", {"ivf_nprobe": 3, "hnsw_ef": 50}, None),
    ],
)
def test_the_index_is_built_and_searched_with_the_chosen_parameters(
    tmp_path, index_type, extra, params
):
    store = Store(settings(tmp_path, index_type=index_type, **extra))
    written = rows(60)
    store.publish(iter(written), {"rag.embedding_model": "m", "rag.chunking": "c"}, DIM)
    described = store.client.describe_index(store.live_collection(), "vector")
    assert described["index_type"] == index_type
    sent = store._dense_params(10)
    assert sent.get("params") == params
    at = store.snapshot(access=ALL)
    hits = store.dense_search(list(written[5].vector), 3, at, "en")
    assert hits[0].chunk_id == "c5"  # the row itself, found through that index
    store.close()
