"""What the model reads: the passages found, each widened to its neighbours in its section
(small-to-big) within the budget today's top-k passages would take.

A search ranks small passages (a precise match), but the answer often runs on into the next
passage of the same section: a step list split in two, a table after its introduction. Each
passage, best first, is given with the passages around it in reading order while the whole
stays within `top_k x chunk_tokens` estimated tokens; a passage already inside an earlier
one's widening is not given twice, and what does not fit is left to the lower ranks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from retrieval.access import Access
from retrieval.settings import Settings
from retrieval.sources import in_document_order, read_document
from retrieval.store import Store
from retrieval.tokens import estimate_tokens
from retrieval.types import Hit


def budget(settings: Settings) -> int:
    """The tokens of passages a prompt carries today: top-k passages of at most a chunk."""
    return settings.top_k * (settings.chunk_tokens + settings.chunk_overlap_tokens)


def neighbours(hit: Hit, ordered: Sequence[Hit], room: int) -> list[Hit]:
    """The hit and the passages next to it in its section, alternately after and before,
    while they fit `room` tokens (the hit alone when nothing else does)."""
    ids = [p.chunk_id for p in ordered]
    if hit.chunk_id not in ids:
        return [hit]
    at = ids.index(hit.chunk_id)
    lo = hi = at
    used = estimate_tokens(hit.text)
    while True:
        grown = False
        for step in (hi + 1, lo - 1):
            if 0 <= step < len(ordered) and not lo <= step <= hi:
                cost = estimate_tokens(ordered[step].text)
                if used + cost <= room:
                    used += cost
                    lo, hi = min(lo, step), max(hi, step)
                    grown = True
        if not grown:
            return list(ordered[lo : hi + 1])


def widened(
    hits: Sequence[Hit], store: Store, docs_dir: Path, settings: Settings, *, access: Access
) -> list[Hit]:
    """The hits, best first, each carrying its section's neighbouring passages in its text,
    all within `budget(settings)`; a hit already given inside an earlier one is dropped."""
    left = budget(settings)
    share = max(settings.chunk_tokens, left // max(1, min(len(hits), settings.top_k)) * 2)
    given: set[str] = set()
    out: list[Hit] = []
    for hit in hits:
        if hit.chunk_id in given or left <= 0:
            continue
        section = store.section(hit.doc, hit.heading, access=access)
        ordered = in_document_order(section, read_document(docs_dir, hit.doc)).passages
        pieces = neighbours(hit, ordered, min(share, left))
        text = "\n\n".join(p.text.strip() for p in pieces)
        cost = estimate_tokens(text)
        if cost > left:
            continue
        left -= cost
        given.update(p.chunk_id for p in pieces)
        out.append(replace(hit, text=text))
    return out
