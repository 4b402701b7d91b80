"""Markdown -> chunks. Pure functions: no I/O, no model.

``headings`` mode walks the lines itself (so code keeps its indentation and ``#`` inside fences
is never a heading), builds each section's heading path, merges tiny sections into the next one,
and splits long sections with langchain's RecursiveCharacterTextSplitter, with overlap.
``hash`` mode is the Milvus + DeepSeek tutorial's ``text.split("# ")``, kept as a baseline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ingest.formats import PAGE_MARK_RE, page_of, strip_page_marks
from ingest.notes import clean_notes
from ingest.tables import section_pieces
from retrieval.tokens import estimate_tokens, fenced_lines, page_language
from retrieval.types import Chunk

HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$|^ {0,3}(#{1,6})[ \t]*$")
#: Bumped when the same text and sizes would give other chunks (a sync then re-splits all).
SPLIT_VERSION = 3  # 2: front-matter titles in the heading path; notes without headings cleaned;
# 3: a page's language read from its prose, not its code
NOTE_SUFFIXES = (".txt", ".text")  # where web-copied notes land (markdown is written, not pasted)
HASH_MAX_CHARS = 20_000  # keeps a heading-less file under Milvus's 64 KiB VARCHAR limit


@dataclass(frozen=True)
class Section:
    """The lines under one heading (heading line excluded) and the path of headings above."""

    path: tuple[str, ...]
    body: str
    level: int = 0  # the level of its own heading (1 for `# `), 0 before any heading


FRONT_MATTER = re.compile(
    r"\A\ufeff?(?:---[ \t]*\r?\n.*?^(?:---|\.\.\.)|\+\+\+[ \t]*\r?\n.*?^\+\+\+)[ \t]*(?:\r?\n|\Z)",
    re.S | re.M,
)
FRONT_TITLE = re.compile(r"""^title[ \t]*[:=][ \t]*(["']?)(.+?)\1[ \t]*$""", re.M)


def strip_front_matter(text: str) -> str:
    """Drop a leading front-matter block: YAML (--- ... --- or ...) or TOML (+++ ... +++)."""
    match = FRONT_MATTER.match(text)
    return text[match.end() :] if match else text


def front_matter_title(text: str) -> str:
    """The page title its front matter gives (`title: ...` or `title = "..."`), or ''."""
    match = FRONT_MATTER.match(text)
    found = FRONT_TITLE.search(match.group(0)) if match else None
    return found.group(2).strip() if found else ""


def page_title(text: str, found: list[Section]) -> str:
    """The title to put above a page's sections when none of its headings is one: the front
    matter's, for pages whose title lives only there (documentation sites)."""
    if any(len(s.path) == 1 and s.level == 1 for s in found):
        return ""
    return front_matter_title(text)


def sections(text: str) -> list[Section]:
    """Split markdown into sections on ATX headings outside fenced code."""
    found: list[Section] = []
    stack: list[tuple[int, str]] = []
    lines: list[str] = []
    level = 0
    for line, code in fenced_lines(text):
        if not code and (heading := HEADING.match(line)):
            found.append(Section(tuple(t for _, t in stack), "\n".join(lines), level))
            level = len(heading.group(1) or heading.group(3))
            stack = [(lv, t) for lv, t in stack if lv < level] + [(level, heading.group(2) or "")]
            lines = []
            continue
        lines.append(line)
    found.append(Section(tuple(t for _, t in stack), "\n".join(lines), level))
    return [s for s in found if s.body.strip() or s.path]


def _common_path(group: list[Section]) -> tuple[str, ...]:
    path = group[0].path
    for section in group[1:]:
        while section.path[: len(path)] != path:
            path = path[:-1]
    return path


def _group_text(group: list[Section], path: tuple[str, ...]) -> str:
    """Bodies of a group, with the heading line of each section below the common path."""
    parts = []
    for section in group:
        if len(section.path) > len(path) and section.path[-1]:
            parts.append(f"{'#' * len(section.path)} {section.path[-1]}")
        parts.append(section.body.strip("\n"))
    return "\n\n".join(p for p in parts if p.strip())


def is_question(section: Section) -> bool:
    """A section headed by a question: an FAQ entry, which answers one thing on its own."""
    return bool(section.path) and section.path[-1].rstrip().endswith(("?", "？"))


def _keeps_apart(group: list[Section], following: Section) -> bool:
    """An FAQ entry takes in the headings above it, but never a neighbouring section."""
    if is_question(group[-1]):
        return True
    above = all(following.path[: len(s.path)] == s.path for s in group)
    return is_question(following) and not above


def _merge_small(
    found: list[Section], min_tokens: int, max_tokens: int, keep_questions: bool = False
) -> list[Section]:
    """Merge runs of tiny sections with what follows, while the result still fits one chunk;
    with `keep_questions`, a question-headed section (an FAQ entry) is never merged with a
    neighbour."""
    merged: list[Section] = []
    index = 0
    while index < len(found):
        group = [found[index]]
        index += 1
        while index < len(found):
            size = estimate_tokens(_group_text(group, _common_path(group)))
            widened = group + [found[index]]
            common = _common_path(widened)
            fits = estimate_tokens(_group_text(widened, common)) <= max_tokens
            # Never merge across top-level headings: the chunk would lose its heading path.
            entry = keep_questions and _keeps_apart(group, found[index])
            if size >= min_tokens or not fits or (group[0].path and not common) or entry:
                break
            group = widened
            index += 1
        path = _common_path(group)
        merged.append(Section(path, _group_text(group, path)))
    return merged


def split_headings(
    text: str,
    doc: str,
    chunk_tokens: int = 200,
    overlap_tokens: int = 30,
    min_tokens: int = 40,
    keep_questions: bool = False,
) -> list[Chunk]:
    """Heading-aware chunks, each with its heading path; long sections split with overlap."""
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_tokens,
        chunk_overlap=min(overlap_tokens, chunk_tokens // 2),
        length_function=estimate_tokens,
        separators=["\n\n", "\n", "。", ". ", " ", ""],
        keep_separator="end",
    )
    chunks = []
    found = sections(strip_front_matter(text))
    title = page_title(text, found)
    if doc.lower().endswith(NOTE_SUFFIXES) and not any(s.path for s in found):
        # a plain-text file without headings: notes copied from a web page
        title, body = clean_notes(strip_front_matter(text))
        found = [Section((), body)]
    for section in _merge_small(found, min_tokens, chunk_tokens, keep_questions):
        heading = " > ".join(p for p in (title, *section.path) if p)
        body = section.body.strip("\n")
        if not body.strip():
            if not section.path or not section.path[-1].strip():
                continue
            body = section.path[-1]  # a heading with nothing under it still says something

        pieces = section_pieces(body, chunk_tokens, splitter.split_text)  # tables: by rows
        chunks.extend(Chunk(doc, heading, piece) for piece in pieces if piece.strip())
    return chunks


def split_hash(text: str, doc: str) -> list[Chunk]:
    """The tutorial baseline: ``text.split("# ")``; blank pieces dropped, huge ones cut."""
    chunks = []
    for piece in text.split("# "):
        if not piece.strip():
            continue
        for start in range(0, len(piece), HASH_MAX_CHARS):
            part = piece[start : start + HASH_MAX_CHARS]
            chunks.append(
                Chunk(doc, part.strip().splitlines()[0][:200] if part.strip() else "", part)
            )
    return chunks


def split_markdown(text: str, doc: str, mode: str = "headings", **sizes: int) -> list[Chunk]:
    """Chunks of one document by the chosen mode, without duplicates."""
    chunks = split_hash(text, doc) if mode == "hash" else split_headings(text, doc, **sizes)
    lang = page_language(text)  # the document's language, not each chunk's: a YAML block
    # in a Chinese page belongs with the Chinese pages, and so does a page of commands
    chunks = [replace(chunk, lang=lang) for chunk in chunks]
    if PAGE_MARK_RE.search(text):  # a converted PDF: each chunk remembers its pages
        chunks = [
            replace(c, text=strip_page_marks(c.text), pages=page_of(text, c.text)) for c in chunks
        ]
        chunks = [c for c in chunks if c.text.strip()]
    return list({chunk.id: chunk for chunk in chunks}.values())
