"""Files -> chunks -> embeddings -> a new index version, skipping what has not changed."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import chain
from pathlib import Path

from accounts.users import load_users
from ingest.access import AccessRules
from ingest.embed import Progress, embedded_rows
from ingest.ocr import OcrOptions, ocr_options
from ingest.plan import Plan, make_plan
from ingest.readers import READERS, DocError, reader_for
from ingest.split import SPLIT_VERSION, split_markdown
from ingest.syncstatus import IngestProgress, clear_progress, write_progress
from retrieval.embeddings import Embedder
from retrieval.errors import UserError
from retrieval.knowledge import GENERAL, Knowledge, load_knowledge
from retrieval.settings import Settings
from retrieval.store import SCHEMA_VERSION, ChunkRow, DocEntry, IndexInfo, Store, locate, meta_for
from retrieval.types import Chunk, FailedFile, IngestReport


class IngestBusyError(UserError):
    """Another ingest into the same index is running."""


@contextmanager
def exclusive_ingest(settings: Settings) -> Iterator[None]:
    """One ingest at a time per index: all writes come from a single writer."""
    lock_path = locate(settings.store_uri).lock_path(settings.collection)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IngestBusyError(
                "another ingest into this index is running; try again when it has finished"
            ) from None
        yield


@dataclass(frozen=True)
class DocFile:
    path: str  # relative to the docs folder, '/'-separated
    text: str
    hash: str  # of the bytes, groups and base: a change of any re-splits (never re-embeds)
    groups: tuple[str, ...] = ("*",)
    encoding: str = "utf-8"  # what the file was read in (text, markdown, rst, HTML)
    kb: str = GENERAL  # its knowledge base
    ocr_pages: int = 0  # pictures OCR'd for it in this run (its scans, images)
    ocr_seconds: float = 0.0


MAX_NAME_BYTES = 1_000  # a document's path in the index (Milvus field: 4,096 bytes)


def printable(name: str) -> str:
    """A file name as a report can show it: undecodable bytes as \\xff, control characters
    (newlines, tabs, escapes) as \\n, \\t, \\x1b."""
    raw = os.fsencode(name).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in raw)


def name_problem(rel: str) -> str:
    """Why a document's path cannot go into the index as it is ('' when it can)."""
    try:
        size = len(rel.encode("utf-8"))
    except UnicodeEncodeError:
        return "file name is not valid UTF-8 (rename it)"
    if not all(c.isprintable() for c in rel):
        return "file name holds control characters such as a newline (rename it)"
    if size > MAX_NAME_BYTES:
        return f"path too long ({size:,} bytes; the limit is {MAX_NAME_BYTES:,})"
    return ""


def chunking_signature(settings: Settings) -> str:
    """Changes whenever a setting that shapes chunks changes, forcing a re-split."""
    if settings.split_mode == "hash":
        return "hash"
    return (
        f"headings{SPLIT_VERSION}:{settings.chunk_tokens}:{settings.chunk_overlap_tokens}:"
        f"{settings.min_chunk_tokens}:{'q' if settings.keep_questions_apart else ''}"
    )


def read_doc(
    path: Path,
    root: Path,
    max_bytes: int,
    groups: tuple[str, ...] = ("*",),
    kb: str = GENERAL,
    ocr: OcrOptions | None = None,
) -> DocFile:
    """Read and validate one document (any format with a reader) as markdown."""
    rel = path.relative_to(root).as_posix()
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise DocError("symlink pointing outside the docs folder")
    if not resolved.is_file():
        raise DocError("not a regular file (broken symlink?)")
    size = resolved.stat().st_size
    if size > max_bytes:
        raise DocError(f"file too large ({size / 1e6:.1f} MB > {max_bytes / 1e6:.1f} MB limit)")
    try:
        data = resolved.read_bytes()
    except OSError as exc:
        raise DocError(f"cannot read: {exc.strerror or exc}") from None
    text = reader_for(path, ocr).read(data)
    if not text.strip():
        raise DocError("empty file")
    digest = hashlib.sha256(data)
    if groups != ("*",):
        digest.update(("\x00groups:" + ",".join(groups)).encode())
    digest.update(("\x00kb:" + kb).encode())
    encoding = getattr(text, "encoding", "utf-8")
    pages, seconds = getattr(text, "ocr_pages", 0), getattr(text, "ocr_seconds", 0.0)
    return DocFile(rel, str(text), digest.hexdigest(), groups, encoding, kb, pages, seconds)


def find_documents(
    root: Path, extensions: list[str] | None = None
) -> tuple[list[Path], list[FailedFile]]:
    """Documents under root (sorted) of the types read, plus symlinked folders refused."""
    wanted = {e.lower() for e in extensions or READERS} & set(READERS)
    files: list[Path] = []
    refused: list[FailedFile] = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        base = Path(folder)
        for name in sorted(dirs):
            if (base / name).is_symlink():  # never followed: loops and escapes are reported
                rel = (base / name).relative_to(root).as_posix()
                refused.append(FailedFile(rel, "symlinked folder not followed"))
        files += [base / n for n in names if Path(n).suffix.lower() in wanted]
    return sorted(files), refused


def _quiet(stage: str, done: int, total: int) -> None:
    """The default progress callback: report nothing."""


def scan(
    root: Path,
    max_bytes: int,
    progress: Progress = _quiet,
    extensions: list[str] | None = None,
    rules: AccessRules | None = None,
    knowledge: Knowledge | None = None,
    ocr: OcrOptions | None = None,
) -> tuple[list[DocFile], list[FailedFile]]:
    """Read every document with its groups and knowledge base; failures (and broken
    `.access` and knowledge files) are collected, never raised."""
    if not root.is_dir():
        raise DocError(f"docs folder not found: {root} (nothing was changed)")
    rules = rules or AccessRules(root)
    knowledge = knowledge or load_knowledge(root)
    paths, failed = find_documents(root, extensions)
    docs = []
    for done, path in enumerate(paths, 1):
        rel = path.relative_to(root).as_posix()
        if problem := name_problem(rel):
            failed.append(FailedFile(rel, problem))
            progress("files", done, len(paths))
            continue
        try:
            groups, kb = rules.groups_for(rel), knowledge.name_for(rel)
            docs.append(read_doc(path, root, max_bytes, groups, kb, ocr))
        except DocError as exc:
            failed.append(FailedFile(rel, str(exc)))
        except Exception as exc:  # a converter's own bug on one file: report it, go on
            failed.append(FailedFile(rel, f"could not be converted ({type(exc).__name__}: {exc})"))
        progress("files", done, len(paths))
    problems = [*dict.fromkeys(rules.problems), *knowledge.problems]
    failed += [FailedFile(p.split(" ")[0], p) for p in problems]
    return docs, [FailedFile(printable(f.path), printable(f.error)) for f in failed]


def access_rules(settings: Settings) -> AccessRules:
    """The folders' groups; known groups are the settings' and the users file's."""
    known = set(settings.known_groups)
    known |= {g for a in load_users(settings.users_path()).accounts.values() for g in a.user.groups}
    return AccessRules(Path(settings.docs_dir), settings.access, frozenset(known))


def ingest(
    settings: Settings,
    store: Store,
    embedder: Embedder,
    rebuild: bool = False,
    progress: Progress = _quiet,
    allow_mass_delete: bool = False,
) -> IngestReport:
    """Bring the index in line with the docs folder; a no-op when nothing changed. A change
    that would remove more than `max_delete_share` of the documents stops (an unmounted share
    looks like an empty folder) unless `allow_mass_delete`."""
    with exclusive_ingest(settings), published_progress(settings, progress) as report:
        return _ingest(settings, store, embedder, rebuild, report, allow_mass_delete)


@contextmanager
def published_progress(settings: Settings, progress: Progress) -> Iterator[Progress]:
    """`progress`, also written beside the index (at most twice a second) for the app to show
    while a first ingest runs; the file goes when the ingest ends, however it ends."""
    last = [0.0]

    def both(stage: str, done: int, total: int) -> None:
        progress(stage, done, total)
        now = time.monotonic()
        if now - last[0] >= 0.5 or done == total:
            last[0] = now
            with contextlib.suppress(OSError):
                write_progress(settings, IngestProgress(stage, done, total, os.getpid()))

    try:
        yield both
    finally:
        clear_progress(settings)


class MassDeleteError(UserError):
    """A sync would remove most of the index; nothing was changed."""


def _ingest(
    settings: Settings,
    store: Store,
    embedder: Embedder,
    rebuild: bool,
    progress: Progress,
    allow_mass_delete: bool = False,
) -> IngestReport:
    started = time.perf_counter()
    hybrid = store.hybrid(settings.search_mode)  # before any work: 'hybrid' may not run here
    info = None if rebuild else store.check_model(embedder.name, embedder.dim)
    root, limit = Path(settings.docs_dir), int(settings.max_file_mb * 1e6)
    rules, knowledge = access_rules(settings), settings.knowledge()
    ocr = ocr_options(settings)
    docs, failed = scan(root, limit, progress, settings.doc_extensions, rules, knowledge, ocr)
    signature = chunking_signature(settings)
    full = info is None or info.chunking != signature or info.schema != SCHEMA_VERSION
    if not full:
        store.recover()
    entries = store.docs() if info is not None else {}
    plan = make_plan(
        {d.path: d.hash for d in docs},
        {f.path for f in failed},
        {path: e.doc_hash for path, e in entries.items()} if info is not None else None,
        full,
        _due_for_rebuild(info, settings),
    )
    if not allow_mass_delete:
        _refuse_mass_delete(len(plan.remove), len(entries), settings)
    report = IngestReport(
        docs_added=len(plan.add),
        docs_updated=len(plan.update),
        docs_removed=len(plan.remove),
        docs_unchanged=len(plan.unchanged),
        docs_failed=failed,
        docs_decoded=[
            {"path": d.path, "encoding": d.encoding} for d in docs if d.encoding != "utf-8"
        ],  # fmt: skip
        embedding_model=embedder.name,
        chunks_total=info.chunks if info else 0,
        search="hybrid" if hybrid else "dense",
        notices=_search_notices(settings, store, hybrid) + _ocr_notices(docs),
        ocr_pages=sum(d.ocr_pages for d in docs),
        ocr_seconds=round(sum(d.ocr_seconds for d in docs), 1),
    )
    if not plan.idle:
        report.chunks_embedded = _execute(
            plan, docs, entries, info, store, embedder, settings, progress, knowledge
        )
        report.chunks_total = store.info().chunks
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _execute(
    plan: Plan,
    docs: list[DocFile],
    entries: dict[str, DocEntry],
    info: IndexInfo | None,
    store: Store,
    embedder: Embedder,
    settings: Settings,
    progress: Progress,
    knowledge: Knowledge,
) -> int:
    """Carry a plan out: split, embed what is new while writing what is embedded, publish one
    version. Returns the number of texts embedded."""
    wanted = set(plan.split)
    chunks = _split_all([d for d in docs if d.path in wanted], settings, progress)
    known = store.vectors_by_text_hash(c.text_hash for c in chunks) if info else {}
    hashes = {d.path: d.hash for d in docs}
    embedded = embedded_rows(chunks, known, embedder, hashes, progress)
    meta = meta_for(embedder.name, chunking_signature(settings))
    langs = {c.lang for c in chunks}
    if plan.full:
        # rows kept as they are (a document unreadable now), in the base the rules give today
        kept = [replace(r, kb=knowledge.name_for(r.doc)) for r in store.chunk_rows(set(plan.keep))]
        meta["rag.langs"] = _languages(langs | {row.lang for row in kept})
        store.publish(chain(kept, embedded.rows), meta, embedder.dim)
    else:
        meta["rag.langs"] = _languages(langs, info.languages)
        _apply(store, info, entries, plan, chunks, hashes, embedded.rows, meta)
    return embedded.to_embed


def _search_notices(settings: Settings, store: Store, hybrid: bool) -> list[str]:
    if hybrid or settings.search_mode != "auto":
        return []
    return [
        f"search is dense only: {store.location.label} runs Milvus {store.server_version}, "
        "which has no full-text (BM25) search (2.5 and later have it); upgrade Milvus for "
        "hybrid search, or set RAG_SEARCH_MODE=dense to choose dense and hide this note"
    ]


def _ocr_notices(docs: list[DocFile]) -> list[str]:
    read = [d for d in docs if d.ocr_pages]
    if not read:
        return []
    pages, seconds = sum(d.ocr_pages for d in read), sum(d.ocr_seconds for d in read)
    return [f"OCR read {pages} pages in {len(read)} files ({seconds:.1f} s)"]


def _refuse_mass_delete(removing: int, indexed: int, settings: Settings) -> None:
    if indexed >= 4 and removing > settings.max_delete_share * indexed:
        raise MassDeleteError(
            f"this sync would remove {removing} of {indexed} documents (more than "
            f"{settings.max_delete_share:.0%}): is the docs folder {settings.docs_dir} "
            "unmounted or emptied by mistake? Nothing was changed; run with "
            "--allow-mass-delete if it is meant"
        )


def _languages(langs: set[str], known: tuple[str, ...] = ()) -> str:
    """The languages an index version holds, for searching each one apart."""
    return ",".join(sorted(set(known) | langs))


def _due_for_rebuild(info: IndexInfo | None, settings: Settings) -> bool:
    """Whether enough incremental versions piled up to rebuild (restoring global BM25 stats)."""
    every = settings.full_rebuild_every
    return info is not None and every > 0 and info.version - 1 >= every


def _apply(
    store: Store,
    info: IndexInfo,
    live: dict[str, DocEntry],
    plan: Plan,
    chunks: list[Chunk],
    doc_hashes: dict[str, str],
    rows: Iterator[ChunkRow],
    meta: dict[str, str],
) -> None:
    """Publish an incremental change: new chunks in, vanished chunks out, as one version.
    `rows` are the chunks' rows, written as they are embedded."""
    old_ids = {i for doc in (*plan.update, *plan.remove) for i in live[doc].ids}
    new_ids = {c.id for c in chunks}
    added = len(new_ids - old_ids)
    retire = old_ids - new_ids
    rehash = {c.id: doc_hashes[c.doc] for c in chunks if c.id in old_ids}
    docs = (set(live) - set(plan.remove)) | set(plan.add)
    total = info.chunks + added - len(retire)
    counts = {"rag.chunks": str(total), "rag.docs": str(len(docs))}
    add = (row for row in rows if row.id not in old_ids)
    store.apply(add, retire, rehash, {**meta, **counts})


def _split_all(docs: list[DocFile], settings: Settings, progress: Progress) -> list[Chunk]:
    sizes = {
        "chunk_tokens": settings.chunk_tokens,
        "overlap_tokens": settings.chunk_overlap_tokens,
        "min_tokens": settings.min_chunk_tokens,
        "keep_questions": settings.keep_questions_apart,
    }
    chunks: list[Chunk] = []
    for done, doc in enumerate(docs, 1):
        pieces = split_markdown(doc.text, doc.path, settings.split_mode, **sizes)
        chunks += [replace(c, groups=doc.groups, kb=doc.kb) for c in pieces]
        progress("chunks", done, len(docs))
    return chunks
