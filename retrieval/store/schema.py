"""The collection's shape: fields, the typed chunk row, the BM25 analyzer, version visibility."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields

import jieba
from pymilvus import DataType, Function, FunctionType, MilvusClient

from retrieval.settings import Settings
from retrieval.store.connect import StoreError

SCHEMA_VERSION = "6"  # 2: search_text + BM25; 3: added/removed versions; 4: lang; 5: pages, groups;
# 6: kb (the knowledge base)
NEVER = 2**62  # `removed` of a row that is still live
TEXT_MAX_BYTES = 65_535
PAGE_LIMIT = 10_000
OUTPUT_FIELDS = ["id", "doc", "heading", "text", "pages", "lang"]
OUTPUT_FIELDS_V4 = ["id", "doc", "heading", "text"]  # an index built before pages existed
MAX_GROUPS = 64

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


@dataclass(frozen=True)
class ChunkRow:
    """One chunk as stored: what ingest writes and what a full rebuild carries over."""

    id: str
    doc: str
    heading: str
    text: str
    text_hash: str
    doc_hash: str
    vector: Sequence[float]  # a float32 array from the embedder, or a list read back
    search_text: str  # feeds the BM25 full-text index
    lang: str
    pages: str = ""
    groups: tuple[str, ...] = ("*",)
    kb: str = ""

    def entity(self, added: int) -> dict:
        """The row as Milvus stores it, live from version `added` on (made one batch at a time
        as rows are written: no deep copy, and the vector a list of floats only here)."""
        row = {name: getattr(self, name) for name in ROW_NAMES}
        vector = self.vector.tolist() if hasattr(self.vector, "tolist") else list(self.vector)
        return {**row, "vector": vector, "groups": list(self.groups), "added": added,
                "removed": NEVER}  # fmt: skip

    @classmethod
    def from_entity(cls, row: dict) -> ChunkRow:
        values = {name: row[name] for name in ROW_NAMES if name in row}
        return cls(**{**values, "groups": tuple(values["groups"])})


ROW_NAMES = [f.name for f in fields(ChunkRow)]
ROW_FIELDS = [*ROW_NAMES, "added", "removed"]


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

    @classmethod
    def from_properties(cls, collection: str, props: dict[str, str]) -> IndexInfo:
        return cls(
            collection=collection,
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


def create_collection(
    client: MilvusClient,
    name: str,
    dim: int,
    meta: dict[str, str],
    index_type: str,
    full_text: bool = True,
    params: dict | None = None,
) -> None:
    """A new collection with the chunk fields and indexes, and (where the server has full-text
    search, Milvus 2.5 and later) the BM25 function over `search_text`."""
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("doc", DataType.VARCHAR, max_length=4096)
    schema.add_field("heading", DataType.VARCHAR, max_length=TEXT_MAX_BYTES)
    schema.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX_BYTES)
    schema.add_field("text_hash", DataType.VARCHAR, max_length=64)
    schema.add_field("doc_hash", DataType.VARCHAR, max_length=64)
    schema.add_field("lang", DataType.VARCHAR, max_length=8)
    schema.add_field("pages", DataType.VARCHAR, max_length=32)
    schema.add_field("kb", DataType.VARCHAR, max_length=128)
    schema.add_field(
        "groups",
        DataType.ARRAY,
        element_type=DataType.VARCHAR,
        max_capacity=MAX_GROUPS,
        max_length=72,
    )
    schema.add_field("added", DataType.INT64)
    schema.add_field("removed", DataType.INT64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    index = client.prepare_index_params()
    if full_text:
        _add_full_text(schema, index)
    else:
        schema.add_field("search_text", DataType.VARCHAR, max_length=TEXT_MAX_BYTES)
    index.add_index("vector", index_type=index_type, metric_type="IP", params=params or {})
    # a scalar index for looking up stored vectors by text hash (Milvus before 2.4: Trie only)
    index.add_index("text_hash", index_type="INVERTED" if full_text else "Trie")
    props = {**meta, "rag.dim": str(dim), "rag.schema": SCHEMA_VERSION}
    client.create_collection(name, schema=schema, properties=props)
    # sync=False: pymilvus would otherwise poll an RPC Milvus Lite lacks, 0.5 s per index.
    client.create_index(name, index, sync=False)


def build_params(index_type: str, settings: Settings) -> dict:
    """The vector index's build parameters (the settings of the other index types unused)."""
    if index_type == "HNSW":
        return {"M": settings.hnsw_m, "efConstruction": settings.hnsw_ef_construction}
    if index_type == "IVF_FLAT":
        return {"nlist": settings.ivf_nlist}
    return {}


def _add_full_text(schema, index) -> None:
    """`search_text` analysed by jieba, and a BM25 sparse vector computed from it by Milvus."""
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
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")


def has_full_text(server_version: str) -> bool:
    """Milvus Lite, and Milvus 2.5 or later, run BM25 full-text search."""
    if server_version.startswith("milvus_lite"):
        return True
    numbers = re.findall(r"\d+", server_version)[:2]
    return len(numbers) == 2 and (int(numbers[0]), int(numbers[1])) >= (2, 5)


def visible(props: dict[str, str]) -> str:
    """The filter that shows exactly the live version (every row in an unversioned index)."""
    if "rag.version" not in props:
        return 'id != ""'  # schema 2 and older, read once more for migration
    version = int(props["rag.version"])
    return f"added <= {version} and removed > {version}"


def meta_for(model_name: str, chunking: str) -> dict[str, str]:
    """Collection properties recording how a version was built."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return {"rag.embedding_model": model_name, "rag.ingested_at": stamp, "rag.chunking": chunking}
