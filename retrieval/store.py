"""Milvus: schema, versioned writes, search. The only module importing pymilvus.

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

import json
import logging
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import jieba
from pymilvus import DataType, Function, FunctionType, MilvusClient
from pymilvus.exceptions import MilvusException

from retrieval import local_server
from retrieval.settings import Settings
from retrieval.types import Hit

SCHEMA_VERSION = "4"  # 2: search_text + BM25; 3: added/removed versions; 4: lang
NEVER = 2**62  # `removed` of a row that is still live
TEXT_MAX_BYTES = 65_535
OUTPUT_FIELDS = ["id", "doc", "heading", "text"]
ROW_FIELDS = [
    "id",
    "doc",
    "heading",
    "text",
    "text_hash",
    "doc_hash",
    "vector",
    "search_text",
    "added",
    "removed",
    "lang",
]
# BM25 tokenizer: jieba segments Chinese and splits other text on spaces and punctuation.
_ENGLISH_STOP = (
    "a an and are as at be by can do does for from has have how i if in is it its me my of on "
    "or our should that the their them then there these they this to was we what when where "
    "which who why will with you your"
)
_CHINESE_STOP = (
    "的 了 是 在 吗 呢 吧 啊 和 与 及 或 我 你 他 她 它 们 这 那 个 怎么 如何 什么 多少 哪"
)
_PUNCTUATION = ",.;:!?()[]{}<>\"'`*#|-_/\\=+~，。；：！？（）【】《》、“”‘’"
STOP_WORDS = sorted(set(_ENGLISH_STOP.split()) | set(_CHINESE_STOP.split()) | set(_PUNCTUATION))
jieba.setLogLevel(logging.WARNING)  # it logs loading its dictionary at DEBUG, on stderr
ANALYZER = {
    "tokenizer": "jieba",
    "filter": ["lowercase", {"type": "stop", "stop_words": STOP_WORDS}],
}
INSERT_BATCH = 500
PAGE_LIMIT = 10_000


class StoreError(RuntimeError):
    """The index cannot be used as asked; the message says what to do."""


# Errors the Milvus client raises, for front doors that report them without importing pymilvus.
MILVUS_ERRORS: tuple[type[Exception], ...] = (MilvusException,)


class ModelMismatchError(StoreError):
    """The index was built by another embedding model than the one configured."""


@dataclass(frozen=True)
class IndexInfo:
    """What the live index version records about itself."""

    collection: str
    embedding_model: str
    dim: int
    chunks: int
    docs: int
    ingested_at: str
    chunking: str
    schema: str
    version: int
    languages: tuple[str, ...] = ()


def open_client(settings: Settings) -> MilvusClient:
    """Connect to Milvus Lite (a file path) or a server (http[s]:// URI), with clear errors."""
    uri = local_server.resolve(settings.store_uri)
    token = settings.store_token.get_secret_value() if settings.store_token else ""
    if local_server.is_local_path(uri):
        Path(uri).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    quiet = logging.getLogger("milvus_lite.server_manager")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # it logs a traceback for the lock error we explain below
    try:
        return MilvusClient(uri=uri, token=token)
    except Exception as exc:  # pymilvus raises several types for the same cause
        raise StoreError(_open_error(uri, exc)) from None
    finally:
        quiet.setLevel(level)


def _open_error(uri: str, exc: Exception) -> str:
    text = str(exc)
    if "lock" in text.lower() or "Open local milvus failed" in text:
        return (
            f"the Milvus Lite index {uri} is in use by another process (the app or an ingest); "
            "stop it, or serve the index with `milvus-lite server` and point RAG_STORE_URI at it"
        )
    return f"cannot connect to Milvus at {uri}: {type(exc).__name__}"


@dataclass(frozen=True)
class DocEntry:
    """What the live version holds of one document."""

    doc_hash: str | None  # None when its rows disagree (an interrupted ingest): re-check it
    ids: frozenset[str]


class Store:
    """The document index: one live collection behind an alias, versioned in place."""

    def __init__(self, settings: Settings, client: MilvusClient | None = None):
        self.alias = settings.collection
        self.index_type = settings.index_type
        self.hnsw_ef = settings.hnsw_ef
        self.client = client or open_client(settings)
        self._loaded: str | None = None
        self._exists = False

    def close(self) -> None:
        self.client.close()

    # --- reading -----------------------------------------------------------------------------
    def live_collection(self) -> str | None:
        """The collection the alias points at, or None before the first ingest."""
        live = self._live()
        return live[0] if live else None

    def _live(self) -> tuple[str, dict[str, str]] | None:
        """(collection, properties) of the live version, in one round trip once it exists."""
        if not self._exists:
            if self.alias not in self.client.list_aliases().get("aliases", []):
                return None
            self._exists = True  # an alias, once made, is only ever moved
        described = self.client.describe_collection(self.alias)
        return described["collection_name"], described.get("properties", {})

    def info(self) -> IndexInfo | None:
        """Facts about the live version, or None when nothing was ingested yet."""
        live = self._live()
        if live is None:
            return None
        name, props = live
        return IndexInfo(
            collection=name,
            embedding_model=props.get("rag.embedding_model", "?"),
            dim=int(props.get("rag.dim", 0)),
            chunks=int(props.get("rag.chunks", 0)),
            docs=int(props.get("rag.docs", 0)),
            ingested_at=props.get("rag.ingested_at", ""),
            chunking=props.get("rag.chunking", ""),
            schema=props.get("rag.schema", ""),
            version=int(props.get("rag.version", 0)),
            languages=tuple(x for x in props.get("rag.langs", "").split(",") if x),
        )

    def check_model(self, model_name: str, dim: int) -> IndexInfo | None:
        """Raise ModelMismatchError if the live index was built by another model."""
        info = self.info()
        if info and (info.embedding_model != model_name or info.dim != dim):
            raise ModelMismatchError(
                f"the index was built with embedding model {info.embedding_model} "
                f"({info.dim}-d) but {model_name} ({dim}-d) is configured; set "
                f"RAG_EMBEDDING_MODEL={info.embedding_model} or rebuild with "
                "`python -m ingest --rebuild`"
            )
        return info

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

    def rows(self, fields: list[str], where: str = "") -> Iterator[dict]:
        """Rows of the live version (optionally filtered), paged by id prefix."""
        live = self._live()
        if live is None:
            return
        name, props = live
        self._ensure_loaded(name)
        visible = _visible(props)
        condition = f"{visible} and ({where})" if where else visible
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

    def dense_search(self, vector: list[float], k: int, lang: str = "") -> list[Hit]:
        """The k passages with the highest inner product (cosine: vectors are unit length),
        only among passages in `lang` when it is given."""
        return self._retrying(self._dense, vector, k, lang)

    def text_search(self, text: str, k: int, vector: list[float]) -> list[Hit]:
        """The k best passages by BM25 on `text`, in BM25 order, each scored by its cosine to
        `vector` so that every score a caller sees means the same thing."""
        if not text.strip():
            return []
        return self._retrying(self._lexical, text, k, vector)

    def _retrying(self, search, *args) -> list[Hit]:
        try:
            return search(*args)
        except MilvusException:
            # Another process may have switched the alias and dropped the version we resolved.
            self._loaded = None
            return search(*args)

    def _searchable(self) -> tuple[str, str]:
        live = self._live()
        if live is None:
            raise StoreError("the index is empty: run `python -m ingest` first")
        name, props = live
        self._ensure_loaded(name)
        return name, _visible(props)

    def _dense(self, vector: list[float], k: int, lang: str) -> list[Hit]:
        name, visible = self._searchable()
        if lang:
            visible = f'{visible} and lang == "{_plain(lang)}"'
        result = self.client.search(
            name,
            data=[vector],
            anns_field="vector",
            limit=k,
            filter=visible,
            output_fields=OUTPUT_FIELDS,
            search_params=self._dense_params(k),
        )
        return [_hit(row) for row in result[0]]

    def _lexical(self, text: str, k: int, vector: list[float]) -> list[Hit]:
        name, visible = self._searchable()
        result = self.client.search(
            name,
            data=[text],
            anns_field="sparse",
            limit=k,
            filter=visible,
            output_fields=[*OUTPUT_FIELDS, "vector"],
            search_params={"metric_type": "BM25"},
        )
        return [
            # Milvus Lite reports BM25 as a negative distance, a server as a positive score
            replace(_hit(row, cosine_to=vector), lexical_score=abs(float(row["distance"])))
            for row in result[0]
        ]

    def _dense_params(self, k: int) -> dict:
        if self.index_type == "HNSW":
            return {"metric_type": "IP", "params": {"ef": max(self.hnsw_ef, k)}}
        return {"metric_type": "IP"}

    def _ensure_loaded(self, name: str) -> None:
        # Milvus Lite starts with collections released after a restart.
        if self._loaded != name:
            self.client.load_collection(name)
            self._loaded = name

    # --- writing (one writer: the ingest job holds a lock) --------------------------------
    def publish(self, rows: Iterable[dict], meta: dict[str, str], dim: int) -> str:
        """Write a complete new collection, then switch the alias to it atomically."""
        self.drop_orphans()
        name = f"{self.alias}_v{time.time_ns()}"
        self._create(name, dim, meta)
        chunks, docs = self._insert_all(name, (_versioned(row, 1) for row in rows))
        self.client.flush(name)
        props = {"rag.chunks": str(chunks), "rag.docs": str(docs), "rag.version": "1"}
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
        add: list[dict],
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
        self._insert_all(name, (_versioned(row, new) for row in add))
        retired = self.rows_by_id(retire, ROW_FIELDS)
        for start in range(0, len(retired), INSERT_BATCH):
            batch = retired[start : start + INSERT_BATCH]
            self.client.upsert(name, [{**row, "removed": new} for row in batch])
        self.client.flush(name)
        self.client.alter_collection_properties(name, properties={**meta, "rag.version": str(new)})
        stale = self.rows_by_id(rehash, ROW_FIELDS)
        for start in range(0, len(stale), INSERT_BATCH):
            batch = stale[start : start + INSERT_BATCH]
            self.client.upsert(name, [{**row, "doc_hash": rehash[row["id"]]} for row in batch])

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

    def _writable(self) -> tuple[str, int]:
        live = self._live()
        if live is None:
            raise StoreError("no index yet: a full build must come first")
        name, props = live
        self._ensure_loaded(name)
        return name, int(props.get("rag.version", 0))

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

    def _create(self, name: str, dim: int, meta: dict[str, str]) -> None:
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("doc", DataType.VARCHAR, max_length=4096)
        schema.add_field("heading", DataType.VARCHAR, max_length=TEXT_MAX_BYTES)
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX_BYTES)
        schema.add_field("text_hash", DataType.VARCHAR, max_length=64)
        schema.add_field("doc_hash", DataType.VARCHAR, max_length=64)
        schema.add_field("lang", DataType.VARCHAR, max_length=8)
        schema.add_field("added", DataType.INT64)
        schema.add_field("removed", DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field(
            "search_text",
            DataType.VARCHAR,
            max_length=TEXT_MAX_BYTES,
            enable_analyzer=True,
            analyzer_params=ANALYZER,
        )
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["search_text"],
                output_field_names=["sparse"],
            )
        )
        index = self.client.prepare_index_params()
        hnsw = {"M": 16, "efConstruction": 200} if self.index_type == "HNSW" else {}
        index.add_index("vector", index_type=self.index_type, metric_type="IP", params=hnsw)
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        index.add_index("text_hash", index_type="INVERTED")
        props = {**meta, "rag.dim": str(dim), "rag.schema": SCHEMA_VERSION}
        self.client.create_collection(name, schema=schema, properties=props)
        # sync=False: pymilvus would otherwise poll an RPC Milvus Lite lacks, 0.5 s per index.
        self.client.create_index(name, index, sync=False)


def _visible(props: dict[str, str]) -> str:
    """The filter that shows exactly the live version (every row in an unversioned index)."""
    if "rag.version" not in props:
        return 'id != ""'  # schema 2 and older, read once more for migration
    version = int(props["rag.version"])
    return f"added <= {version} and removed > {version}"


def _plain(value: str) -> str:
    """A value safe to put inside a quoted filter literal (letters, digits, '-' and '_')."""
    if not re.fullmatch(r"[\w-]{1,32}", value):
        raise StoreError(f"invalid filter value {value!r}")
    return value


def _versioned(row: dict, version: int) -> dict:
    return {**row, "added": version, "removed": NEVER}


def _hit(row: dict, cosine_to: list[float] | None = None) -> Hit:
    """A search result as a Hit; with `cosine_to`, the score is the cosine to that vector."""
    entity = row["entity"]
    score = float(row["distance"])
    if cosine_to is not None:
        score = float(sum(a * b for a, b in zip(entity["vector"], cosine_to, strict=True)))
    return Hit(
        doc=entity["doc"],
        heading=entity["heading"],
        text=entity["text"],
        score=score,
        chunk_id=str(row.get("id", entity.get("id", ""))),
    )


def meta_for(model_name: str, chunking: str) -> dict[str, str]:
    """Collection properties recording how a version was built."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return {"rag.embedding_model": model_name, "rag.ingested_at": stamp, "rag.chunking": chunking}
