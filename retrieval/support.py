"""Is an answer supported by what it cites? A model may answer without citing, or cite a passage
and then give a figure it does not hold; both are marked, never hidden. The check is literal:
every number, every `code` span and every URL of the answer must appear in a passage it cites.
A URL that none does (made up, or planted in a document to be repeated) is also never a link:
`unlinked` turns it into plain code text wherever the answer is shown."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

MARKER = re.compile(r"\[\d{1,3}\??\]")  # [n] citations, and [n?] ones that matched no passage
LIST_NUMBER = re.compile(r"(?m)^\s*\d{1,2}[.)、]\s")  # "1. Open ...": a list, not a claim
FIGURE = re.compile(r"(?<![\w.,:])\d+(?:[.,:]\d+)*(?![\w])")  # 15, 91,500, 2.5, 08:30, 10.0.0.1
CODE = re.compile(r"`([^`\n]{2,80})`")
# A URL as a reader's markdown would link it: a scheme or a bare www., up to a space or a
# bracket; trailing punctuation is the sentence's, not the URL's.
URL = re.compile(r"(?i)\b(?:[a-z][a-z0-9+.-]{1,15}://|www\.|mailto:)[^\s<>()\[\]{}\"'`]+")
LINK = re.compile(r"\[([^\]\n]{0,200})\]\(\s*<?([^()\s<>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
TRAILING = ".,;:!?。，；：！？"

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
    links = urls(body)
    body = URL.sub(" ", body)  # a URL's digits are the URL's, not figures
    wanted = links + [m.group(0) for m in FIGURE.finditer(body)] + code
    missing = [v for v in dict.fromkeys(wanted) if _plain(v) not in haystack]
    return ("unverified", missing[:5]) if missing else ("supported", [])


def _plain(text: str) -> str:
    """Compared as written, except case, runs of space and thousands separators."""
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    return " ".join(text.lower().split())


def urls(text: str) -> list[str]:
    """The URLs in a text, as written, without the sentence's trailing punctuation."""
    return [m.group(0).rstrip(TRAILING) for m in URL.finditer(text)]


def unlinked(text: str, passages: Sequence[str] = ()) -> str:
    """Markdown in which no URL that the passages lack is a link: a markdown link to one
    becomes its text and the URL as code, a bare one becomes code (nothing to click)."""
    haystack = _plain(" ".join(passages))

    def held(url: str) -> bool:
        return bool(passages) and _plain(url.rstrip(TRAILING)) in haystack

    def link(match: re.Match) -> str:
        label, target = match.group(1), match.group(2)
        return match.group(0) if held(target) else f"{label} ({_code(target)})"

    def bare(match: re.Match) -> str:
        url = match.group(0).rstrip(TRAILING)
        tail = match.group(0)[len(url) :]
        return match.group(0) if held(url) else _code(url) + tail

    parts = re.split(r"(`[^`\n]*`)", LINK.sub(link, text))  # code spans already link nothing
    return "".join(p if p.startswith("`") else URL.sub(bare, p) for p in parts)


def _code(url: str) -> str:
    return "`" + url.replace("`", "") + "`"
