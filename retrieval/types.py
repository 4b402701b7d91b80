"""Small frozen records that cross module boundaries."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field


def sha256(text: str) -> str:
    """Hex sha256 of a string (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Chunk:
    """A piece of one document, ready to embed."""

    doc: str  # path relative to the docs folder, with '/' separators
    heading: str  # heading path, e.g. "Install > Linux > Troubleshooting"
    text: str  # the passage as written in the document
    lang: str = "en"  # the document's language ('zh' or 'en'): its partition of the index
    pages: str = ""  # page numbers in a converted PDF ('3' or '3-4'), else ''
    groups: tuple[str, ...] = ("*",)  # who may read it (see retrieval.access)
    kb: str = ""  # its knowledge base (see retrieval.knowledge)

    @property
    def embed_text(self) -> str:
        """What the embedder sees: the heading path, then the passage."""
        return f"{self.heading}\n{self.text}" if self.heading else self.text

    @property
    def text_hash(self) -> str:
        """Key for reusing an embedding: same embedded text, same vector."""
        return sha256(self.embed_text)

    @property
    def id(self) -> str:
        """Primary key: content hash of where the chunk lives, who may read it and in which
        knowledge base (a change of either makes new rows, swapped in atomically) and what it
        says."""
        where = f"{self.doc}\x00{self.kb}" if self.kb else self.doc
        if self.groups == ("*",):
            return sha256(f"{where}\x00{self.embed_text}")
        return sha256(f"{where}\x00{','.join(self.groups)}\x00{self.embed_text}")


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its score (inner product, higher is better)."""

    doc: str
    heading: str
    text: str
    score: float  # cosine similarity of passage and query, whatever ranked it
    chunk_id: str = ""
    rerank_score: float | None = None  # set when a reranker ordered the hits
    lexical_score: float | None = None  # the BM25 score, on hits found by full-text search
    relevance: float = 0.0  # 0..1, in the order of the final ranking: the figure users see
    standing: float = 0.0  # how far it stands out in the fused ranking (a z-score)
    pages: str = ""  # page numbers of a PDF passage
    lang: str = ""  # the passage's language ('en', 'zh'; empty on an index older than schema 5)
    kb: str = ""  # the passage's knowledge base (empty on an index older than schema 6)

    @property
    def embed_text(self) -> str:
        """The heading path, then the passage (as it was embedded and indexed)."""
        return f"{self.heading}\n{self.text}" if self.heading else self.text

    def as_dict(self) -> dict[str, object]:
        return {"doc": self.doc, "heading": self.heading, "text": self.text, "score": self.score}


@dataclass(frozen=True)
class FailedFile:
    """A document that could not be ingested, and why."""

    path: str
    error: str


@dataclass
class IngestReport:
    """What one ingest did; crosses from the ingest job to the app and the eval as JSON."""

    docs_added: int = 0
    docs_updated: int = 0
    docs_removed: int = 0
    docs_unchanged: int = 0
    docs_failed: list[FailedFile] = field(default_factory=list)
    docs_decoded: list[dict[str, str]] = field(default_factory=list)  # read in another encoding
    chunks_embedded: int = 0
    chunks_total: int = 0
    embedding_model: str = ""
    search: str = ""  # "hybrid" or "dense": what searches of this index run
    notices: list[str] = field(default_factory=list)  # said once, in the summary
    seconds: float = 0.0
    ocr_pages: int = 0  # pictures (scanned pages, images) read with OCR in this run
    ocr_seconds: float = 0.0  # the time that OCR took

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> IngestReport:
        failed = [FailedFile(**f) for f in data.get("docs_failed", [])]
        return cls(**{**data, "docs_failed": failed})
