"""Small-to-big: the model reads a passage with its section's neighbours, in reading order,
within the budget today's top-k passages take; real Milvus Lite, the real embedder."""

from __future__ import annotations

import pytest

from ingest.pipeline import ingest
from retrieval.access import ALL
from retrieval.answer import context_for
from retrieval.context import budget, neighbours
from retrieval.search import Retriever
from retrieval.store import Store
from retrieval.tokens import estimate_tokens
from retrieval.types import Hit
from tests.conftest import make_settings, write_docs

STEPS = [
    f"Step {n}: {word} the replication settings on the standby database and wait for it."
    for n, word in enumerate(["Stop", "Copy", "Edit", "Check", "Start", "Watch"], 1)
]
RUNBOOK = "# Failover\n\n## Promote the standby\n\n" + "\n\n".join(
    f"{step} " + "Then look at the logs for errors before going on. " * 3 for step in STEPS
)
OTHER = "# Parking\n\nVisitors park on level -2; the barrier opens with the intercom.\n"
ZH = "# 门禁\n\n## 补办\n\n门禁卡丢失请在 24 小时内告知行政部，补办费用为 50 元。\n"


@pytest.fixture(scope="module")
def runbook(tmp_path_factory, embedder):
    tmp = tmp_path_factory.mktemp("context")
    docs = write_docs(
        tmp / "docs", {"ops/failover.md": RUNBOOK, "office/parking.md": OTHER, "办公室/门禁.md": ZH}
    )
    settings = make_settings(tmp, docs, chunk_tokens=60, chunk_overlap_tokens=0, top_k=2)
    store = Store(settings)
    ingest(settings, store, embedder)
    yield Retriever(settings, store, embedder)
    store.close()


def test_neighbours_grow_around_the_hit_within_room():
    parts = [Hit("d", "h", "x " * 40, 0.0, chunk_id=str(n)) for n in range(5)]  # 20 tokens each
    assert [p.chunk_id for p in neighbours(parts[2], parts, 60)] == ["1", "2", "3"]
    assert [p.chunk_id for p in neighbours(parts[0], parts, 45)] == ["0", "1"]
    assert neighbours(parts[2], parts, 5) == [parts[2]]  # nothing else fits: the hit alone


def test_a_step_is_given_with_the_steps_around_it(runbook):
    question = "What is step 3 of promoting the standby?"
    hits = runbook.retrieve(question, 2, access=ALL).hits
    plain = context_for(question, hits, runbook, access=ALL)
    widening = Retriever(
        runbook.settings.updated(context_widen=True), runbook.store, runbook.embedder
    )
    wide = context_for(question, hits, widening, access=ALL)
    alone = next(s for s in plain if "Step 3" in s.text)
    assert "Step 2" not in alone.text and "Step 4" not in alone.text  # a passage by itself
    top = next(s for s in wide if "Step 3" in s.text)
    assert "Step 2" in top.text or "Step 4" in top.text  # its neighbours came with it
    assert top.text.index("Step 3") > top.text.find("Step 2")  # in reading order
    total = sum(estimate_tokens(s.text) for s in wide)
    assert total <= budget(runbook.settings)
    assert len({s.text for s in wide}) == len(wide)  # no passage given twice


def test_a_chinese_page_section_opens(runbook):
    """Chinese file names and headings reach Milvus's filter as they are (a JSON \\u escape
    is not an escape its expressions know)."""
    section = runbook.store.section("办公室/门禁.md", "门禁", access=ALL)
    assert [p.text for p in section.passages] == [ZH.split("\n\n", 1)[1].strip()]
