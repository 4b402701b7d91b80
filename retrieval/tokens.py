"""Token estimates shared by chunking (ingest) and prompt budgeting (answering)."""

from __future__ import annotations

import re

CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def estimate_tokens(text: str) -> int:
    """Rough sub-word count: ~4 characters per token, one per CJK character."""
    cjk = len(CJK.findall(text))
    return cjk + (len(text) - cjk + 3) // 4
