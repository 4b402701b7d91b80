"""Who may read what: the groups stored on every chunk, and the filter every search carries.

A chunk's `groups` lists the groups that may read it; EVERYONE marks a folder open to all, and
ADMINS_ONLY a folder closed by a broken `.access` file (no user has that group; admins read
everything because their searches carry no group filter). The rule is written here twice, side
by side: as a Milvus expression (`condition`), applied inside Milvus on dense and BM25 search
alike, and as a predicate (`allows`) for the copy of the vectors a serving process holds
(retrieval/store/resident.py), applied before any row is scored. Neither is ever applied after
the fact to a ranking; a test holds the two to the same rows on a real index.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

EVERYONE = "*"
ADMINS_ONLY = "!admins"
GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
KNOWLEDGE_NAME = re.compile(r"\w[\w-]{0,31}")  # a knowledge base (retrieval.knowledge)


@dataclass(frozen=True)
class Access:
    """What one search may see: every chunk (admins, the command line), or the chunks open to
    everyone and to these groups; and, when the asker points the question at some knowledge
    bases, only the chunks in those."""

    groups: frozenset[str] | None  # None: everything
    knowledge: frozenset[str] | None = None  # None: every knowledge base

    @classmethod
    def everything(cls) -> Access:
        return cls(None)

    @classmethod
    def of(cls, groups: tuple[str, ...] | list[str] | frozenset[str]) -> Access:
        return cls(frozenset(g for g in groups if GROUP.match(g)))

    def within(self, knowledge: Iterable[str] | None) -> Access:
        """This reader, asking only in these knowledge bases (none or empty: in all)."""
        chosen = frozenset(knowledge or ())
        if bad := [name for name in chosen if not KNOWLEDGE_NAME.fullmatch(name)]:
            raise ValueError(f"invalid knowledge base names {sorted(bad)}")
        return replace(self, knowledge=chosen or None)

    @property
    def reader(self) -> Access:
        """This reader with no choice of knowledge bases: what they may read at all."""
        return replace(self, knowledge=None)

    @property
    def key(self) -> str:
        """Names this view, for caches that must never mix two users' results."""
        who = "*all*" if self.groups is None else ",".join(sorted(self.groups))
        return who if self.knowledge is None else f"{who}|kb:{','.join(sorted(self.knowledge))}"

    def condition(self, knowledge: bool = True) -> str:
        """The Milvus filter ('' for everything); `knowledge=False` for an index from before
        knowledge bases (schema < 6), which has no `kb` field."""
        parts = []
        if self.groups is not None:
            allowed = sorted({EVERYONE, *self.groups})
            parts.append(f"array_contains_any(groups, {json.dumps(allowed)})")
        if knowledge and self.knowledge is not None:
            parts.append(f"kb in {json.dumps(sorted(self.knowledge), ensure_ascii=False)}")
        return " and ".join(parts)

    def allows(self, groups: tuple[str, ...], kb: str) -> bool:
        """Whether a row readable by `groups`, in knowledge base `kb`, is visible to this
        search: what `condition()` selects, for one row."""
        if self.groups is not None and not ({EVERYONE, *self.groups} & set(groups)):
            return False
        return self.knowledge is None or kb in self.knowledge


ALL = Access.everything()
