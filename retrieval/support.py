"""Is an answer supported by what it cites? A model may answer without citing, or cite a passage
and then give a figure it does not hold; both are marked, never hidden. The check is literal:
every number and every `code` span of the answer must appear in a passage it cites."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

MARKER = re.compile(r"\[\d{1,3}\??\]")  # [n] citations, and [n?] ones that matched no passage
LIST_NUMBER = re.compile(r"(?m)^\s*\d{1,2}[.)、]\s")  # "1. Open ...": a list, not a claim
FIGURE = re.compile(r"(?<![\w.,:])\d+(?:[.,:]\d+)*(?![\w])")  # 15, 91,500, 2.5, 08:30, 10.0.0.1
CODE = re.compile(r"`([^`\n]{2,80})`")

Support = Literal["supported", "uncited", "wordless", "unverified"]
WORD = re.compile(r"[^\W\d_]")  # a letter or a CJK character


def support(answer: str, cited_texts: Sequence[str]) -> tuple[Support, list[str]]:
    """('uncited', []) when the answer cites nothing; ('wordless', []) when it is citation
    numbers and nothing else (small models do that); ('unverified', the figures and code spans
    no cited passage holds); else ('supported', [])."""
    if not cited_texts:
        return "uncited", []
    body = LIST_NUMBER.sub(" ", MARKER.sub(" ", answer))
    if not WORD.search(body):
        return "wordless", []
    haystack = _plain(" ".join(cited_texts))
    code = CODE.findall(body) if body.count("`") % 2 == 0 else []  # a stray ` pairs nothing
    wanted = [m.group(0) for m in FIGURE.finditer(body)] + code
    missing = [v for v in dict.fromkeys(wanted) if _plain(v) not in haystack]
    return ("unverified", missing[:5]) if missing else ("supported", [])


def _plain(text: str) -> str:
    """Compared as written, except case, runs of space and thousands separators."""
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    return " ".join(text.lower().split())
