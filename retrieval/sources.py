"""Sources a user can check: a cited passage's whole section, in document order, and (for
admins) the whole document as the docs folder holds it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from retrieval.access import Access
from retrieval.store import Section, Store


def read_document(docs_dir: Path, doc: str) -> str | None:
    """The document's text from the docs folder, or None if it is not there (or the path
    would leave the folder: an index entry never opens files outside it)."""
    root = docs_dir.resolve()
    path = (root / doc).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def in_document_order(section: Section, text: str | None) -> Section:
    """The passages sorted by where they start in the document (as stored when it is gone)."""
    if not text:
        return section

    def position(passage) -> int:
        start = passage.text.strip()[:80]
        found = text.find(start) if start else -1
        return found if found >= 0 else len(text)

    return replace(section, passages=sorted(section.passages, key=position))


def open_section(
    store: Store, docs_dir: Path, doc: str, heading: str | None, *, access: Access
) -> Section:
    """A source's section (heading None: the whole document), in reading order, as far as
    `access` may read it (the document's file is only read to order what it may see)."""
    section = store.section(doc, heading, access=access)
    return in_document_order(section, read_document(docs_dir, doc) if section.passages else None)
