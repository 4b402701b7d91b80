"""The resident copy: dense search from the vectors a process holds gives what Milvus gives, to
every reader, in every language, version after version (real Milvus Lite, random vectors)."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from retrieval.access import ADMINS_ONLY, ALL, EVERYONE, Access
from retrieval.settings import Settings
from retrieval.store import MILVUS_ERRORS, ChunkRow, Store, resident

DIM = 16
GROUPS = [(EVERYONE,), ("hr",), ("eng",), ("hr", "eng"), (ADMINS_ONLY,)]
BASES = ["hr", "it", "general"]
READERS = [
    ALL,
    Access.of([]),
    Access.of(["hr"]),
    Access.of(["eng", "sales"]),
    Access.of(["hr"]).within(["it"]),
    Access.of(["eng"]).within(["hr", "general"]),
    ALL.within(["it"]),
    Access.of(["nobody"]).within(["none-such"]),
]


def rows(n: int, seed: int, prefix: str) -> list[ChunkRow]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [
        ChunkRow(
            id=f"{prefix}{i}",
            doc=f"{prefix}doc{i // 4}.md",
            heading=f"Section {i}",
            text=f"passage {prefix}{i}",
            text_hash=f"t{prefix}{i}",
            doc_hash=f"d{prefix}{i // 4}",
            vector=vectors[i],
            search_text=f"passage {prefix}{i}",
            lang="fr" if i % 7 == 0 else "zh" if i % 3 == 0 else "en",
            pages="2" if i % 5 == 0 else "",
            groups=GROUPS[i % len(GROUPS)],
            kb=BASES[i % len(BASES)],
        )
        for i in range(n)
    ]


def store(tmp_path, **extra) -> Store:
    return Store(Settings(_env_file=None, store_uri=str(tmp_path / "milvus.db"), **extra))


def milvus_only(tmp_path) -> Store:
    return store(tmp_path, resident_max_chunks=0)


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resident")
    writer = store(tmp)
    # Rows in a language the index does not list ("fr") are read after the listed ones.
    meta = {"rag.embedding_model": "random", "rag.langs": "en,zh"}
    writer.publish(iter(rows(240, 1, "a")), meta, DIM)
    writer.close()
    return tmp


def queries(n: int = 6) -> list[list[float]]:
    rng = np.random.default_rng(9)
    found = rng.normal(size=(n, DIM)).astype(np.float32)
    return (found / np.linalg.norm(found, axis=1, keepdims=True)).tolist()


def compare(copy_side: Store, milvus_side: Store, k: int) -> int:
    """Every reader, language and query: the same hits, in the same order, with the same
    scores and fields. Returns how many hits were compared."""
    compared = 0
    for reader, lang, vector in itertools.product(READERS, ["", "en", "zh", "fr"], queries()):
        at = copy_side.snapshot(access=reader)
        there = milvus_side.dense_search(vector, k, milvus_side.snapshot(access=reader), lang)
        here = copy_side.dense_search(vector, k, at, lang)
        assert [h.chunk_id for h in here] == [h.chunk_id for h in there], (reader, lang)
        for a, b in zip(here, there, strict=True):
            assert a.score == pytest.approx(b.score, abs=1e-5)
            assert (a.doc, a.heading, a.text, a.pages, a.lang, a.kb) == (
                b.doc, b.heading, b.text, b.pages, b.lang, b.kb,
            )  # fmt: skip
        compared += len(here)
    return compared


@pytest.mark.parametrize("limit", [2_000, 500])  # texts and floats held; read from Milvus
def test_the_copy_finds_what_milvus_finds_for_every_reader(index, limit):
    ours, theirs = store(index, resident_max_chunks=limit), milvus_only(index)
    try:
        at = ours.snapshot(access=ALL)
        copy = ours.wait_resident(at)
        assert copy is not None and len(copy.ids) == 240 and copy.codes.shape == (240, DIM)
        held = limit // resident.HELD_SHARE >= 240
        assert (copy.exact is not None, copy.shown is not None) == (held, held)
        # int8 codes, a scale, the id, language and shelf a row; the texts stay in Milvus
        assert copy.nbytes < 240 * (DIM + 24 + (4 * DIM if held else 0))
        assert set(copy.blocks) == {"en", "zh"}  # each listed language one block of rows
        for lang, (start, end) in copy.blocks.items():
            assert set(copy.langs[start:end]) == {lang.encode()}
        assert ours.resident.get(at.key) is copy  # what dense_search now reads
        assert compare(ours, theirs, 10) > 0
        # With k above every reader's share, both return exactly the rows the filter admits.
        assert compare(ours, theirs, 300) > 0
        nothing = ours.dense_search(queries()[0], 10, ours.snapshot(access=READERS[-1]))
        assert nothing == []
        with pytest.raises(MILVUS_ERRORS, match="read it again"):  # a row dropped meanwhile
            copy.rows.read(["a1", "no-such-row"])
    finally:
        ours.close()
        theirs.close()


def test_a_new_version_is_read_again_and_searched_in_milvus_meanwhile(tmp_path):
    ours = store(tmp_path)
    try:
        ours.publish(iter(rows(60, 2, "a")), {"rag.embedding_model": "random"}, DIM)
        first = ours.snapshot(access=ALL)
        assert ours.wait_resident(first) is not None
        added = rows(30, 3, "b")
        retired = [f"a{i}" for i in range(0, 60, 2)]
        ours.apply(added, retired, {}, {"rag.embedding_model": "random"})
        second = ours.snapshot(access=ALL)
        assert second.key != first.key
        # The old copy is not the new version's: the next searches go to Milvus, and are right.
        found = ours.dense_search(queries()[0], 100, second)
        expected = {f"a{i}" for i in range(1, 60, 2)} | {row.id for row in added}
        assert {h.chunk_id for h in found} == expected
        copy = ours.wait_resident(second)
        assert copy is not None and {i.decode() for i in copy.ids} == expected
        assert {h.chunk_id for h in ours.dense_search(queries()[0], 100, second)} == expected
        # A search pinned to the old version still sees the old version, from Milvus.
        old = {h.chunk_id for h in ours.dense_search(queries()[1], 100, first)}
        assert old == {f"a{i}" for i in range(60)}
    finally:
        ours.close()


def test_an_index_over_the_limit_stays_in_milvus(tmp_path):
    ours = store(tmp_path, resident_max_chunks=50)
    try:
        ours.publish(iter(rows(80, 4, "a")), {"rag.embedding_model": "random"}, DIM)
        at = ours.snapshot(access=ALL)
        assert ours.wait_resident(at) is None
        assert ours.resident.get(at.key) is None  # not read again for this version
        assert len(ours.dense_search(queries()[0], 5, at, "en")) == 5
    finally:
        ours.close()


def test_a_failed_read_is_tried_again_after_a_pause(tmp_path, monkeypatch):
    monkeypatch.setattr(resident, "RETRY_S", 2.0)
    ours = store(tmp_path)
    try:
        ours.publish(iter(rows(40, 5, "a")), {"rag.embedding_model": "random"}, DIM)
        at = ours.snapshot(access=ALL)
        holder = ours.resident
        assert holder.wait(resident.Key("no_such_collection", at.visible), 60) is None
        # Within the pause no read starts: Milvus answers, and right.
        assert holder.get(at.key) is None and holder.wait(at.key, 0.1) is None
        assert len(ours.dense_search(queries()[0], 5, at)) == 5
        time.sleep(2.1)
        assert holder.wait(at.key, 60) is not None  # then it is read after all
    finally:
        ours.close()


def crowded(n: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors like the bench's: a few hundred random ones, the rest mixes of two of them
    plus a little noise (many near-duplicates: the hard case for rounding)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(300, dim)).astype(np.float32)
    a, b = rng.integers(0, 300, n), rng.integers(0, 300, n)
    w = rng.uniform(0.5, 0.9, (n, 1)).astype(np.float32)
    mixed = w * base[a] + (1 - w) * base[b] + rng.normal(0, 0.01, (n, dim)).astype(np.float32)
    return mixed / np.linalg.norm(mixed, axis=1, keepdims=True)


@pytest.mark.parametrize("k", [10, 40])
def test_rounded_scores_keep_every_row_of_the_exact_top_k(k):
    vectors = crowded(20_000, 384, 11)
    codes, scales = resident.quantised(vectors)
    assert codes.dtype == np.int8 and codes.nbytes == vectors.nbytes // 4
    rng = np.random.default_rng(12)
    asked = vectors[rng.integers(0, len(vectors), 30)] + rng.normal(0, 0.02, (30, 384))
    found = kept = 0
    for query in asked.astype(np.float32):
        rounded = resident.approximate(codes, scales, query)
        chosen = resident.candidates(rounded, k, resident.spread(scales, query))
        exact = vectors @ query
        top = set(np.argsort(-exact)[:k].tolist())
        found += len(top & set(chosen.tolist()))
        kept += len(chosen)
        # Re-scoring the candidates exactly gives the exact top k, in order.
        rescored = chosen[np.argsort(-exact[chosen], kind="stable")[:k]]
        assert rescored.tolist() == np.argsort(-exact, kind="stable")[:k].tolist()
    assert found == 30 * k  # recall@k 1.000 after re-scoring
    assert kept < 30 * (3 * k + 100)  # and few rows read back from Milvus for it
