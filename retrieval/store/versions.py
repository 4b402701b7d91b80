"""Writing: full builds behind the alias, incremental versions in place, crash recovery.

Readers always see one complete version of the index, and a crash never leaves a half-written
one visible:

- A full build (first ingest, `--rebuild`, a chunking or schema change) writes a new collection
  (``<alias>_v<n>``), flushes and loads it, and only then points the alias at it. A build that
  dies leaves an orphan collection that the next ingest drops.
- An incremental ingest changes the live collection in place, versioned like MVCC: each row
  records the version that added it and the version that removed it, the collection property
  ``rag.version`` names the live version, and every search filters on it. New rows are written
  with the next version, retired rows are marked with it, and one property update publishes
  both. Rows left by a crashed ingest (added after, or retired after, the live version) are
  rolled back by the next one, and rows retired in earlier versions are deleted.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

from retrieval.store.catalog import Catalog
from retrieval.store.schema import NEVER, PAGE_LIMIT, ROW_FIELDS, ChunkRow, create_collection

INSERT_BATCH = 500


class Versions(Catalog):
    """The write side of the store (one writer: the ingest job holds a lock)."""

    def publish(self, rows: Iterable[ChunkRow], meta: dict[str, str], dim: int) -> str:
        """Write a complete new collection, then switch the alias to it atomically."""
        self.drop_orphans()
        name = f"{self.alias}_v{time.time_ns()}"
        create_collection(
            self.client, name, dim, meta, self.index_type, self.full_text, self.index_params
        )
        chunks, docs = self._insert_all(name, (row.entity(1) for row in rows))
        self.client.flush(name)
        props = {"rag.chunks": str(chunks), "rag.docs": str(docs), "rag.version": "1"}
        props["rag.stamp.1"] = meta.get("rag.ingested_at", "")  # when each version was made
        self.client.alter_collection_properties(name, properties=props)
        self.client.load_collection(name)
        old = self.live_collection()
        if old is None:
            self.client.create_alias(name, self.alias)
        else:
            self.client.alter_alias(name, self.alias)
            self.client.drop_collection(old)
        self._loaded = name
        return name

    def apply(
        self,
        add: list[ChunkRow],
        retire: Iterable[str],
        rehash: dict[str, str],
        meta: dict[str, str],
    ) -> None:
        """Publish an incremental change in place: new rows and retired ids become one version.

        `rehash` maps ids of rows that stay to their document's new hash; it is applied after
        the switch (idempotent: an interrupted ingest finds the hash stale and re-checks).
        """
        name, version = self._writable()
        new = version + 1
        self._insert_all(name, (row.entity(new) for row in add))
        retired = self.rows_by_id(retire, ROW_FIELDS)
        self._upsert(name, [{**row, "removed": new} for row in retired])
        self.client.flush(name)
        stamp = {f"rag.stamp.{new}": meta.get("rag.ingested_at", "")}
        props = {**meta, **stamp, "rag.version": str(new)}
        self.client.alter_collection_properties(name, properties=props)
        stale = self.rows_by_id(rehash, ROW_FIELDS)
        self._upsert(name, [{**row, "doc_hash": rehash[row["id"]]} for row in stale])

    def recover(self) -> None:
        """Roll back what an interrupted incremental ingest wrote; drop long-retired rows."""
        if self._live() is None:
            return
        name, version = self._writable()
        self.client.delete(name, filter=f"added > {version}")
        while half_retired := self.client.query(
            name,
            filter=f"removed > {version} and removed < {NEVER}",
            output_fields=ROW_FIELDS,
            limit=PAGE_LIMIT,
        ):  # each pass un-retires what it read, so the loop ends; no page limit on recovery
            self.client.upsert(name, [{**row, "removed": NEVER} for row in half_retired])
        self.client.delete(name, filter=f"removed <= {version}")

    def physical_rows(self) -> list[dict]:
        """Every stored row of the live collection, visible or not (for tests and audits)."""
        name, _ = self._writable()
        return list(self._rows_with_prefix(name, ["id", "doc", "added", "removed"], "", "true"))

    def drop_orphans(self) -> list[str]:
        """Drop collections left by an interrupted full build (never the live one)."""
        live = self.live_collection()
        orphans = [
            n
            for n in self.client.list_collections()
            if n != live and re.fullmatch(rf"{re.escape(self.alias)}_v\d+", n)
        ]
        for name in orphans:
            self.client.drop_collection(name)
        return orphans

    def _upsert(self, name: str, rows: list[dict]) -> None:
        for start in range(0, len(rows), INSERT_BATCH):
            self.client.upsert(name, rows[start : start + INSERT_BATCH])

    def _insert_all(self, name: str, rows: Iterable[dict]) -> tuple[int, int]:
        batch: list[dict] = []
        count, docs = 0, set()
        for row in rows:
            batch.append(row)
            docs.add(row["doc"])
            if len(batch) >= INSERT_BATCH:
                self.client.insert(name, batch)
                count += len(batch)
                batch = []
        if batch:
            self.client.insert(name, batch)
            count += len(batch)
        return count, len(docs)
