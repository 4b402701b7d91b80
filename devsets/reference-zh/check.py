#!/usr/bin/env python3
"""Verify devsets/reference-zh/questions.jsonl against ../reference/docs (standard library only).

Hard checks (exit 1 on failure):
  - every line is a JSON object with exactly the keys id, question, doc, heading, answer_snippet, lang
  - ids are unique and look like z-NN (answerable) or n-NN (unanswerable); lang is "zh"
  - the question contains Chinese characters
  - z- items: doc exists under ../reference/docs; heading (when not null) is an exact heading line
    of that doc (ATX heading outside fenced code blocks and HTML comments, stripped, # markers kept);
    answer_snippet (5-60 characters) occurs verbatim in the doc, and inside that heading's section
    when a heading is given (section = heading line up to the next heading line of any level)
  - n- items: doc, heading and answer_snippet are all null
  - no page is gold for more than 4 questions
Soft (WARN): snippet also found in another corpus page, snippet repeated in its own page,
heading occurring more than once in its page, corpus pages without any question.
"""
import json
import os
import re
import sys
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.normpath(os.path.join(HERE, "..", "reference", "docs"))
QFILE = os.path.join(HERE, "questions.jsonl")
KEYS = {"id", "question", "doc", "heading", "answer_snippet", "lang"}
MAX_PER_PAGE = 4
HEADING_RE = re.compile(r"^#{1,6}\s+\S")
FENCE_RE = re.compile(r"^\s*(```|~~~)")


def parse_sections(text):
    """Return list of (heading_line_stripped, section_text) for ATX headings outside code/comments."""
    lines = text.split("\n")
    heads = []  # (line index, stripped heading)
    in_fence = False
    in_comment = False
    in_front = False
    for i, line in enumerate(lines):
        s = line.strip()
        if i == 0 and s == "---":
            in_front = True
            continue
        if in_front:
            if s == "---":
                in_front = False
            continue
        if in_comment:
            if "-->" in line:
                in_comment = False
            continue
        if FENCE_RE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if s.startswith("<!--") and "-->" not in s:
            in_comment = True
            continue
        if HEADING_RE.match(line):
            heads.append((i, s))
    sections = []
    for k, (i, h) in enumerate(heads):
        end = heads[k + 1][0] if k + 1 < len(heads) else len(lines)
        sections.append((h, "\n".join(lines[i:end])))
    return sections


def main():
    errors, warns = [], []
    corpus = {}
    for root, _, files in os.walk(DOCS):
        for fn in files:
            if fn.endswith(".md"):
                p = os.path.join(root, fn)
                rel = os.path.relpath(p, DOCS).replace(os.sep, "/")
                with open(p, encoding="utf-8") as f:
                    corpus[rel] = f.read()
    items = []
    with open(QFILE, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"line {n}: invalid JSON ({e})")
                continue
            if not isinstance(obj, dict) or set(obj) != KEYS:
                errors.append(f"line {n}: keys must be exactly {sorted(KEYS)}")
                continue
            items.append(obj)

    ids = Counter(o["id"] for o in items)
    for i, c in ids.items():
        if c > 1:
            errors.append(f"{i}: duplicate id")
    per_page = Counter()
    n_ans = n_un = 0
    for o in items:
        qid = o["id"]
        if not re.fullmatch(r"[zn]-\d{2,3}", str(qid)):
            errors.append(f"{qid}: bad id format")
            continue
        if o["lang"] != "zh":
            errors.append(f"{qid}: lang must be 'zh'")
        if not isinstance(o["question"], str) or not re.search(r"[\u4e00-\u9fff]", o["question"]):
            errors.append(f"{qid}: question must be Chinese text")
        if qid.startswith("n-"):
            n_un += 1
            if any(o[k] is not None for k in ("doc", "heading", "answer_snippet")):
                errors.append(f"{qid}: unanswerable item must have doc, heading, answer_snippet null")
            continue
        n_ans += 1
        doc, head, snip = o["doc"], o["heading"], o["answer_snippet"]
        if not isinstance(doc, str) or doc not in corpus:
            errors.append(f"{qid}: doc {doc!r} not found under {DOCS}")
            continue
        per_page[doc] += 1
        if not isinstance(snip, str) or not snip:
            errors.append(f"{qid}: answer_snippet missing")
            continue
        if not 5 <= len(snip) <= 60:
            errors.append(f"{qid}: answer_snippet length {len(snip)} outside 5-60")
        text = corpus[doc]
        if snip not in text:
            errors.append(f"{qid}: snippet not found verbatim in {doc}: {snip!r}")
            continue
        if text.count(snip) > 1:
            warns.append(f"{qid}: snippet occurs {text.count(snip)} times in {doc}")
        others = [d for d, t in corpus.items() if d != doc and snip in t]
        if others:
            warns.append(f"{qid}: snippet also occurs in {', '.join(others)}")
        if head is not None:
            secs = [body for h, body in parse_sections(text) if h == head]
            if not secs:
                errors.append(f"{qid}: heading {head!r} is not a heading line of {doc}")
            else:
                if len(secs) > 1:
                    warns.append(f"{qid}: heading {head!r} occurs {len(secs)} times in {doc}")
                if not any(snip in body for body in secs):
                    errors.append(f"{qid}: snippet not inside section {head!r} of {doc}")

    for doc, c in per_page.items():
        if c > MAX_PER_PAGE:
            errors.append(f"{doc}: gold for {c} questions (max {MAX_PER_PAGE})")
    uncovered = sorted(set(corpus) - set(per_page))
    for d in uncovered:
        warns.append(f"page without questions: {d}")

    print(f"corpus pages: {len(corpus)}; pages with questions: {len(per_page)}")
    print(f"questions: {len(items)} (answerable z-: {n_ans}, unanswerable n-: {n_un})")
    print("per page: " + ", ".join(f"{d}={c}" for d, c in sorted(per_page.items())))
    for w in warns:
        print("WARN", w)
    for e in errors:
        print("FAIL", e)
    print("OK" if not errors else f"{len(errors)} failure(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
