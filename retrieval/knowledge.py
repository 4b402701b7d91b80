"""Knowledge bases: the parts of the docs a question can be pointed at.

By default each top-level folder of the docs is one knowledge base, named after the folder
(lower case, runs of other characters as '-'); documents at the top level belong to GENERAL.
An optional `knowledge.toml` in the docs folder (or the file RAG_KNOWLEDGE_FILE names) gives
bases a title and a description in English and Chinese, and may gather several folders, at
any depth, into one base:

    [hr]
    title = "HR handbook"
    title_zh = "人事手册"
    description = "Leave, pay, benefits"
    folders = ["hr", "people/policies"]

A folder goes to the base that lists it or its nearest listed parent, else to its top-level
folder's base. Every chunk stores its base's name; the filter runs inside Milvus beside the
access filter. Titles are read when shown, so renaming a title needs no sync; moving a folder
to another base takes effect on the next sync, which rewrites the rows without re-embedding.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from retrieval.access import KNOWLEDGE_NAME

KNOWLEDGE_FILE = "knowledge.toml"
GENERAL = "general"
_TEXT_KEYS = ("title", "title_zh", "description", "description_zh")


def base_name(folder: str) -> str:
    """A folder's name as a knowledge-base name: lower case, other characters as '-'."""
    name = re.sub(r"[^\w]+", "-", folder.lower()).strip("-_")[:32].strip("-_")
    return name or GENERAL


@dataclass(frozen=True)
class KnowledgeBase:
    """One knowledge base: its name (stored on chunks), and how people see it."""

    name: str
    title: str = ""
    title_zh: str = ""
    description: str = ""
    description_zh: str = ""
    folders: tuple[str, ...] = ()

    def label(self, lang: str = "en") -> str:
        """The title in the reader's language (English, then the name, when it has none)."""
        return (self.title_zh if lang == "zh" else "") or self.title or self.name

    def about(self, lang: str = "en") -> str:
        return (self.description_zh if lang == "zh" else "") or self.description


@dataclass(frozen=True)
class Knowledge:
    """The declared bases, and the rule that gives every document its base."""

    declared: dict[str, KnowledgeBase] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)  # default base -> its folder's name
    problems: tuple[str, ...] = ()

    def name_for(self, doc: str) -> str:
        """The base of a document path (relative, '/'-separated)."""
        folder = PurePosixPath(doc).parent
        for candidate in [folder, *folder.parents]:
            key = "" if str(candidate) == "." else str(candidate)
            for base in self.declared.values():
                if key in base.folders:
                    return base.name
        parts = PurePosixPath(doc).parts
        return base_name(parts[0]) if len(parts) > 1 else GENERAL

    def base(self, name: str) -> KnowledgeBase:
        """What to show for a base name found in the index (declared or not)."""
        if name in self.declared:
            return self.declared[name]
        if name == GENERAL:
            return KnowledgeBase(GENERAL, "General", "通用")
        return KnowledgeBase(name, self.titles.get(name, name))


def load_knowledge(docs_dir: Path, path: Path | None = None) -> Knowledge:
    """The bases of a docs folder: its knowledge file if any (problems are reported, and the
    defaults stand in for a file that cannot be used), and its top-level folders' names."""
    titles = _folder_titles(docs_dir)
    path = path or docs_dir / KNOWLEDGE_FILE
    if not path.exists():
        return Knowledge({}, titles)
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return Knowledge({}, titles, (f"{path.name} cannot be read ({exc}); {_FALLBACK}",))
    declared, problems = _declared(table, path.name)
    return Knowledge(declared, titles, tuple(problems))


_FALLBACK = "each top-level folder is its own knowledge base until it is fixed"


def _declared(table: dict, where: str) -> tuple[dict[str, KnowledgeBase], list[str]]:
    declared: dict[str, KnowledgeBase] = {}
    problems: list[str] = []
    owner: dict[str, str] = {}
    for name, entry in table.items():
        problem = _entry_problem(name, entry)
        if problem:
            problems.append(f"{where} [{name}] {problem}: the entry is ignored")
            continue
        folders = tuple(str(f).strip("/") for f in entry.get("folders", [name]))
        taken = [f for f in folders if f in owner]
        if taken:
            problems.append(f"{where} [{name}] lists {taken}, already in [{owner[taken[0]]}]")
            folders = tuple(f for f in folders if f not in owner)
        owner.update(dict.fromkeys(folders, name))
        texts = {k: str(entry.get(k, "")) for k in _TEXT_KEYS}
        declared[name] = KnowledgeBase(name, folders=folders, **texts)
    return declared, problems


def _entry_problem(name: str, entry: object) -> str:
    if not KNOWLEDGE_NAME.fullmatch(name):
        return "has an invalid name (letters, digits, '-' and '_', at most 32)"
    if not isinstance(entry, dict):
        return "is not a table"
    folders = entry.get("folders", [name])
    if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
        return "has 'folders' that is not a list of folder paths"
    unknown = set(entry) - {*_TEXT_KEYS, "folders"}
    return f"has unknown keys {sorted(unknown)}" if unknown else ""


def _folder_titles(docs_dir: Path) -> dict[str, str]:
    """Default base name -> the top-level folder it comes from, as its title."""
    try:
        folders = sorted(p.name for p in docs_dir.iterdir() if p.is_dir())
    except OSError:
        return {}
    return {base_name(f): f for f in folders if not f.startswith(".")}
