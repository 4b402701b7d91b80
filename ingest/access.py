"""Which groups may read a document: the nearest `.access` file up the tree wins (or a mapping
in settings for that folder); none means everyone.

An `.access` file lists group names, separated by commas, spaces or new lines; `#` starts a
comment; `*` means everyone. A file that cannot be read, has a bad name in it, or names a
group nobody has (when the known groups are listed) closes its folder to all but admins and is
reported: it is never read as "open to everyone".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from retrieval.access import ADMINS_ONLY, EVERYONE, GROUP

ACCESS_FILE = ".access"


@dataclass
class AccessRules:
    """Folder (relative, '' = the root) -> its groups, from files and the settings mapping."""

    root: Path
    mapping: dict[str, list[str]] = field(default_factory=dict)
    known: frozenset[str] = frozenset()
    problems: list[str] = field(default_factory=list)
    _cache: dict[str, tuple[str, ...] | None] = field(default_factory=dict)

    def groups_for(self, doc: str) -> tuple[str, ...]:
        """The groups of a document path (relative, '/'-separated), nearest rule first."""
        folder = PurePosixPath(doc).parent
        for candidate in [folder, *folder.parents]:
            key = "" if str(candidate) == "." else str(candidate)
            rule = self._rule(key)
            if rule is not None:
                return rule
        return (EVERYONE,)

    def _rule(self, folder: str) -> tuple[str, ...] | None:
        if folder not in self._cache:
            path = self.root / folder / ACCESS_FILE
            rule = self._read(path, folder) if path.exists() else None
            if rule is None and folder in self._mapping():
                rule = self._check(self._mapping()[folder], f"RAG_ACCESS[{folder!r}]")
            self._cache[folder] = rule
        return self._cache[folder]

    def _mapping(self) -> dict[str, list[str]]:
        return {k.strip("/"): v for k, v in self.mapping.items()}

    def _read(self, path: Path, folder: str) -> tuple[str, ...]:
        where = f"{folder}/{ACCESS_FILE}" if folder else ACCESS_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            return self._closed(where, f"cannot be read ({exc})")
        names = [n for line in text.splitlines() for n in re.split(r"[,\s]+", line.split("#")[0])]
        return self._check([n for n in names if n], where)

    def _check(self, names: list[str], where: str) -> tuple[str, ...]:
        if not names:
            return self._closed(where, "lists no group")
        bad = [n for n in names if n != EVERYONE and not GROUP.match(n)]
        if bad:
            return self._closed(where, f"has invalid group names {bad}")
        unknown = [n for n in names if n != EVERYONE and self.known and n not in self.known]
        if unknown:
            return self._closed(where, f"names unknown groups {unknown}")
        return tuple(sorted(set(names)))

    def _closed(self, where: str, why: str) -> tuple[str, ...]:
        self.problems.append(f"{where} {why}: the folder is closed to all but admins")
        return (ADMINS_ONLY,)
