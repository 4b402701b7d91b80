"""Token estimates shared by chunking (ingest) and prompt budgeting (answering)."""

from __future__ import annotations

import re

CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


LATIN_WORD = re.compile(r"[A-Za-z]+")


def language(text: str) -> str:
    """'zh' when CJK characters are at least as many as Latin words (a CJK character carries
    about a word), else 'en': the one split that matters for search here."""
    cjk = len(CJK.findall(text))
    return "zh" if cjk and cjk >= len(LATIN_WORD.findall(text)) else "en"


def estimate_tokens(text: str) -> int:
    """Rough sub-word count: ~4 characters per token, one per CJK character."""
    cjk = len(CJK.findall(text))
    return cjk + (len(text) - cjk + 3) // 4
