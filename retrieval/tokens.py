"""Token estimates shared by chunking (ingest) and prompt budgeting (answering)."""

from __future__ import annotations

import re
from collections.abc import Iterator

CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


LATIN_WORD = re.compile(r"[A-Za-z]+")


def language(text: str) -> str:
    """'zh' when CJK characters are at least as many as Latin words (a CJK character carries
    about a word), else 'en': the one split that matters for search here."""
    cjk = len(CJK.findall(text))
    return "zh" if cjk and cjk >= len(LATIN_WORD.findall(text)) else "en"


FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
NOT_PROSE = re.compile(r"`[^`\n]*`|https?://\S+|<!--.*?-->|<[^>\n]*>", re.S)


def page_language(text: str) -> str:
    """A page's language, read from its prose: code blocks, inline code, links and HTML left
    out (a Chinese page of YAML and shell commands is a Chinese page); a page that is all code
    is read whole."""
    prose = NOT_PROSE.sub(" ", "\n".join(_outside_fences(text)))
    return language(prose) if CJK.search(prose) or LATIN_WORD.search(prose) else language(text)


def _outside_fences(text: str) -> list[str]:
    """The lines of markdown text outside fenced code blocks (``` or ~~~)."""
    return [line for line, code in fenced_lines(text) if not code]


def fenced_lines(text: str) -> Iterator[tuple[str, bool]]:
    """Each line of markdown text, and whether it is code: a fence line (``` or ~~~) or a line
    inside a fenced block (closed by a fence of the same character, at least as long)."""
    fence = ""
    for line in text.splitlines():
        marker = FENCE.match(line)
        if fence:
            if marker and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence):
                fence = ""
            yield line, True
        elif marker:
            fence = marker.group(1)
            yield line, True
        else:
            yield line, False


def estimate_tokens(text: str) -> int:
    """Rough sub-word count: ~4 characters per token, one per CJK character."""
    cjk = len(CJK.findall(text))
    return cjk + (len(text) - cjk + 3) // 4
