"""Reading the live version: the documents it holds, its rows, stored vectors."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from retrieval.access import Access
from retrieval.knowledge import GENERAL
from retrieval.store.live import LiveIndex
from retrieval.store.schema import PAGE_LIMIT, ROW_FIELDS, ChunkRow, IndexInfo, visible
from retrieval.types import Hit


@dataclass(frozen=True)
class DocEntry:
    """What the live version holds of one document."""

    doc_hash: str | None  # None when its rows disagree (an interrupted ingest): re-check it
    ids: frozenset[str]


@dataclass(frozen=True)
class BaseCount:
    """What a reader may read of one knowledge base."""

    docs: int
    chunks: int


@dataclass(frozen=True)
class Section:
    """The passages of one document section as the live version holds them."""

    doc: str
    heading: str
    passages: list[Hit]
    ingested_at: str  # when the document's current text was ingested


class Catalog(LiveIndex):
    """The read side of the store."""

    def docs(self) -> dict[str, DocEntry]:
        """doc path -> its hash and chunk ids in the live version."""
        hashes: dict[str, set[str]] = {}
        ids: dict[str, set[str]] = {}
        for row in self.rows(["id", "doc", "doc_hash"]):
            hashes.setdefault(row["doc"], set()).add(row["doc_hash"])
            ids.setdefault(row["doc"], set()).add(row["id"])
        return {
            doc: DocEntry(next(iter(h)) if len(h) == 1 else None, frozenset(ids[doc]))
            for doc, h in hashes.items()
        }

    def passages(self) -> Iterator[Hit]:
        """Every live chunk as a passage (score 0), for audits and the evaluation."""
        for row in self.rows(["id", "doc", "heading", "text"]):
            yield Hit(row["doc"], row["heading"], row["text"], 0.0, chunk_id=row["id"])

    def section(self, doc: str, heading: str | None, *, access: Access) -> Section:
        """A section's passages (every passage of the document when heading is None), only
        those `access` may read, all from one resolution of the live version."""
        live = self._live()
        where = f"doc == {json.dumps(doc, ensure_ascii=False)}"
        if heading is not None:
            where += f" and heading == {json.dumps(heading, ensure_ascii=False)}"
        if restriction := _restriction(live, access):
            where += f" and {restriction}"
        rows = list(self.rows(["id", "doc", "heading", "text", "added"], where, live))
        passages = [Hit(r["doc"], r["heading"], r["text"], 0.0, chunk_id=r["id"]) for r in rows]
        props = live[1] if live else {}
        added = max((int(r["added"]) for r in rows), default=0)
        stamp = props.get(f"rag.stamp.{added}") or props.get("rag.ingested_at", "")
        return Section(doc, heading or "", passages, stamp)

    def counts(self, *, access: Access) -> tuple[int, int]:
        """(documents, chunks) that `access` may read in the live version (one resolution of
        it; one pass over the rows when some are restricted)."""
        live = self._live()
        if live is None:
            return 0, 0
        restriction = _restriction(live, access)
        if not restriction:
            info = IndexInfo.from_properties(*live)
            return info.docs, info.chunks
        docs, chunks = set(), 0
        for row in self.rows(["doc"], restriction, live):
            docs.add(row["doc"])
            chunks += 1
        return len(docs), chunks

    def bases(self, *, access: Access) -> dict[str, BaseCount]:
        """knowledge base -> what `access` may read of it in the live version (whatever bases
        the reader has chosen: this is the list to choose from)."""
        found = self.documents_by_base(access=access)
        return {kb: BaseCount(len(docs), sum(docs.values())) for kb, docs in found.items()}

    def documents_by_base(self, *, access: Access) -> dict[str, dict[str, int]]:
        """knowledge base -> {document: chunks} that `access` may read, whatever bases it has
        chosen (one pass over those rows). An index from before knowledge bases (schema < 6)
        is one base, GENERAL."""
        live = self._live()
        if live is None:
            return {}
        old = _schema(live) < 6
        found: dict[str, dict[str, int]] = {}
        fields = ["doc"] if old else ["doc", "kb"]
        for row in self.rows(fields, _restriction(live, access.reader), live):
            docs = found.setdefault(GENERAL if old else row["kb"], {})
            docs[row["doc"]] = docs.get(row["doc"], 0) + 1
        return dict(sorted(found.items()))

    def chunk_rows(self, docs: set[str]) -> list[ChunkRow]:
        """The stored rows of these documents, as they are (for a rebuild that keeps them)."""
        live = self._live()
        if not docs or live is None:
            return []
        where = f"doc in {json.dumps(sorted(docs), ensure_ascii=False)}"
        fields = ROW_FIELDS if _schema(live) >= 6 else [f for f in ROW_FIELDS if f != "kb"]
        return [ChunkRow.from_entity(row) for row in self.rows(fields, where, live)]

    def rows(self, fields: list[str], where: str = "", live: Live | None = None) -> Iterator[dict]:
        """Rows of the live version (optionally filtered), paged by id prefix; `live`: the
        version a caller has already resolved."""
        live = live or self._live()
        if live is None:
            return
        name, props = live
        self._ensure_loaded(name)
        condition = f"{visible(props)} and ({where})" if where else visible(props)
        yield from self._rows_with_prefix(name, fields, "", condition)

    def _rows_with_prefix(
        self, name: str, fields: list[str], prefix: str, condition: str
    ) -> Iterator[dict]:
        # Ids are hex hashes: a prefix that holds too many rows for one query is split in 16.
        rows = self.client.query(
            name,
            filter=f'id like "{prefix}%" and {condition}',
            output_fields=fields,
            limit=PAGE_LIMIT,
        )
        if len(rows) < PAGE_LIMIT:
            yield from rows
            return
        for digit in "0123456789abcdef":
            yield from self._rows_with_prefix(name, fields, prefix + digit, condition)

    def rows_by_id(self, ids: Iterable[str], fields: list[str]) -> list[dict]:
        """Live rows with the given ids."""
        wanted, found = sorted(set(ids)), []
        for start in range(0, len(wanted), 500):
            part = json.dumps(wanted[start : start + 500])
            found += list(self.rows(fields, where=f"id in {part}"))
        return found

    def vectors_by_text_hash(self, text_hashes: Iterable[str]) -> dict[str, list[float]]:
        """Stored embeddings for the given text hashes, so unchanged text is never re-embedded."""
        live = self._live()
        wanted = sorted(set(text_hashes))
        found: dict[str, list[float]] = {}
        if live is None or not wanted:
            return found
        self._ensure_loaded(live[0])
        for start in range(0, len(wanted), 500):
            part = json.dumps(wanted[start : start + 500])
            rows = self.client.query(
                live[0], filter=f"text_hash in {part}", output_fields=["text_hash", "vector"]
            )
            found.update({row["text_hash"]: row["vector"] for row in rows})
        return found


Live = tuple[str, dict[str, str]]  # (collection, properties) of the live version


def _restriction(live: Live | None, access: Access) -> str:
    """The filter for what `access` may read; none in an index from before groups (schema < 5),
    where everything is open to all."""
    schema = _schema(live)
    return access.condition(knowledge=schema >= 6) if schema >= 5 else ""


def _schema(live: Live | None) -> int:
    """The schema version of a resolved live version (0: none, or from before versions)."""
    return 0 if live is None else int(IndexInfo.from_properties(*live).schema or 0)
