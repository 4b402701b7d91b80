"""What an ingest must do, decided without touching the index: a pure function.

Files on disk (path -> content hash), the documents the live index holds (path -> hash, None
when its rows disagree), and whether a full build is due -> a `Plan`: which documents to add,
update, remove or leave alone, and which ones to split and embed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    full: bool  # write a complete new version (new collection behind the alias)
    add: tuple[str, ...]  # on disk, not in the index
    update: tuple[str, ...]  # in the index with another content hash
    remove: tuple[str, ...]  # in the index, gone from disk (and not merely unreadable)
    unchanged: tuple[str, ...]
    keep: tuple[str, ...]  # unreadable now: a full build carries their last good version
    split: tuple[str, ...]  # documents to split and embed (all of them in a full build)

    @property
    def idle(self) -> bool:
        """Nothing to write."""
        return not (self.full or self.split or self.remove)


def make_plan(
    on_disk: Mapping[str, str],
    unreadable: set[str],
    live: Mapping[str, str | None] | None,
    full: bool,
    rebuild_due: bool = False,
) -> Plan:
    """The plan for bringing the index (`live`, None when there is none) in line with disk."""
    full = full or live is None
    live = live or {}
    changed = [p for p in sorted(on_disk) if full or p not in live or live[p] != on_disk[p]]
    removed = sorted(set(live) - set(on_disk) - unreadable)
    if (changed or removed) and rebuild_due:
        full = True  # re-split everything; the vectors are reused by text hash
    return Plan(
        full=full,
        add=tuple(p for p in changed if p not in live),
        update=tuple(p for p in changed if p in live),
        remove=tuple(removed),
        unchanged=tuple(p for p in sorted(on_disk) if p not in changed),
        keep=tuple(sorted(set(live) & unreadable)) if full else (),
        split=tuple(sorted(on_disk)) if full else tuple(changed),
    )
