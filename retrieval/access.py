"""Who may read what: the groups stored on every chunk, and the filter every search carries.

A chunk's `groups` lists the groups that may read it; EVERYONE marks a folder open to all, and
ADMINS_ONLY a folder closed by a broken `.access` file (no user has that group; admins read
everything because their searches carry no group filter). The filter is a Milvus expression,
applied inside Milvus on dense and BM25 search alike, never after the fact in Python.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

EVERYONE = "*"
ADMINS_ONLY = "!admins"
GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Access:
    """What one search may see: every chunk (admins, the command line), or the chunks open to
    everyone and to these groups."""

    groups: frozenset[str] | None  # None: everything

    @classmethod
    def everything(cls) -> Access:
        return cls(None)

    @classmethod
    def of(cls, groups: tuple[str, ...] | list[str] | frozenset[str]) -> Access:
        return cls(frozenset(g for g in groups if GROUP.match(g)))

    @property
    def key(self) -> str:
        """Names this view, for caches that must never mix two users' results."""
        return "*all*" if self.groups is None else ",".join(sorted(self.groups))

    def condition(self) -> str:
        """The Milvus filter ('' for everything)."""
        if self.groups is None:
            return ""
        allowed = sorted({EVERYONE, *self.groups})
        return f"array_contains_any(groups, {json.dumps(allowed)})"


ALL = Access.everything()
