#!/usr/bin/env python3
"""Check the zh-rocketmq retrieval dev set (standard library only).

Usage: python3 check.py      (prints counts; exit status 0 only if every hard check passes)

Hard checks:
  - docs/ holds 20-30 .md pages; every line of questions.jsonl is a JSON object
    with exactly the keys id, question, doc, heading, answer_snippet, lang
  - ids unique and of the form z-NN / e-NN / n-NN; lang is "zh" for z-, "en" for e-,
    "zh" or "en" for n-; zh questions contain Chinese characters, en questions none;
    no duplicate question texts
  - answerable items (z-, e-): doc exists under docs/; heading is an exact (stripped)
    ATX heading line of that doc, outside fenced code blocks and HTML comments;
    answer_snippet is 5-60 characters, occurs in the doc inside that heading's
    section (heading line to the next heading line of any level), and in no other
    corpus page (all comparisons after collapsing runs of whitespace)
  - at most 5 answerable questions per page; every page is gold for at least one
  - unanswerable items (n-): doc, heading, answer_snippet are all null, and the
    key terms listed in N_TERMS occur in no page (case-insensitive)
Soft checks (WARN only): heading occurring more than once in its doc, snippet found
only inside fenced code, snippet repeated inside its own doc, question containing
its snippet or copying a multi-word heading.
"""
import json
import os
import re
import sys
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(HERE, "docs")
QFILE = os.path.join(HERE, "questions.jsonl")
KEYS = {"id", "question", "doc", "heading", "answer_snippet", "lang"}
HEADING_RE = re.compile(r"^(#{1,6})[ \t]+\S")
FENCE_RE = re.compile(r"^[ \t]*(```+|~~~+)")
CJK_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
MAX_PER_PAGE = 5

# Key terms of the unanswerable questions; none may occur in any page.
N_TERMS = {
    "n-01": ["dashboard"],
    "n-02": ["prometheus", "exporter", "告警"],
    "n-03": ["分层存储", "tiered", "对象存储", "s3"],
    "n-04": ["RocketMQTemplate", "springboot", "spring-boot", "starter"],
    "n-05": ["kafka"],
    "n-06": ["golang", "go client", "rocketmq-client-go"],
    "n-07": ["grpc", "8081"],
    "n-08": ["elasticsearch", "sink", "rocketmq connect", "rocketmq-connect"],
}


def ws(s):
    return re.sub(r"\s+", " ", s).strip()


def parse(path):
    """Return (lines, headings, code) with headings = [(line_index, stripped_line)]."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    headings, code = [], set()
    in_fence = None
    in_comment = False
    for i, line in enumerate(lines):
        if in_comment:
            if "-->" in line:
                in_comment = False
            continue
        m = FENCE_RE.match(line)
        if in_fence:
            code.add(i)
            if m and m.group(1)[0] == in_fence[0] and len(m.group(1)) >= len(in_fence):
                in_fence = None
            continue
        if m:
            in_fence = m.group(1)
            code.add(i)
            continue
        if "<!--" in line and "-->" not in line.split("<!--", 1)[1]:
            in_comment = True
            continue
        if HEADING_RE.match(line):
            headings.append((i, line.strip()))
    return lines, headings, code


def main():
    errors, warns = [], []
    corpus = {}
    for root, _, files in os.walk(DOCS):
        for fn in files:
            p = os.path.join(root, fn)
            rel = os.path.relpath(p, DOCS).replace(os.sep, "/")
            if not fn.endswith(".md"):
                errors.append(f"unexpected non-markdown file docs/{rel}")
                continue
            corpus[rel] = parse(p)
    if not 20 <= len(corpus) <= 30:
        errors.append(f"{len(corpus)} pages in docs/ (want 20-30)")
    flat = {rel: ws("\n".join(v[0])) for rel, v in corpus.items()}
    flat_low = {rel: t.lower() for rel, t in flat.items()}

    ids, texts = set(), set()
    counts, per_doc, lang_count = Counter(), Counter(), Counter()
    n = 0
    with open(QFILE, encoding="utf-8") as f:
        raw = f.read().split("\n")
    for ln, line in enumerate(raw, 1):
        if not line.strip():
            if ln != len(raw):
                errors.append(f"line {ln}: blank line")
            continue
        n += 1
        try:
            q = json.loads(line)
        except Exception as e:  # noqa: BLE001
            errors.append(f"line {ln}: JSON error {e}")
            continue
        if not isinstance(q, dict) or set(q) != KEYS:
            errors.append(f"line {ln}: keys {sorted(q) if isinstance(q, dict) else type(q).__name__}")
            continue
        qid = q["id"]
        m = re.match(r"^(z|e|n)-\d{2,3}$", qid) if isinstance(qid, str) else None
        if not m:
            errors.append(f"line {ln}: bad id {qid!r}")
            continue
        if qid in ids:
            errors.append(f"{qid}: duplicate id")
        ids.add(qid)
        pre = m.group(1)
        counts[pre] += 1
        text, lang = q["question"], q["lang"]
        if not isinstance(text, str) or not text.strip():
            errors.append(f"{qid}: empty question")
            continue
        if text in texts:
            errors.append(f"{qid}: duplicate question text")
        texts.add(text)
        want = {"z": ("zh",), "e": ("en",), "n": ("zh", "en")}[pre]
        if lang not in want:
            errors.append(f"{qid}: lang {lang!r} does not fit prefix {pre}-")
        lang_count[(pre, lang)] += 1
        has_cjk = bool(CJK_RE.search(text))
        if lang == "zh" and not has_cjk:
            errors.append(f"{qid}: lang zh but question has no Chinese characters")
        if lang == "en" and has_cjk:
            errors.append(f"{qid}: lang en but question has Chinese characters")
        vals = [q["doc"], q["heading"], q["answer_snippet"]]
        if pre == "n":
            if any(v is not None for v in vals):
                errors.append(f"{qid}: unanswerable item must have doc/heading/answer_snippet null")
            terms = N_TERMS.get(qid)
            if not terms:
                errors.append(f"{qid}: no key terms listed in N_TERMS")
            for t in terms or []:
                hits = [r for r in corpus if t.lower() in flat_low[r]]
                if hits:
                    errors.append(f"{qid}: key term {t!r} occurs in {hits}")
            continue
        if any(not isinstance(v, str) or not v for v in vals):
            errors.append(f"{qid}: doc/heading/answer_snippet must be non-empty strings")
            continue
        doc, heading, snip = vals
        if doc not in corpus:
            errors.append(f"{qid}: doc {doc!r} not in docs/")
            continue
        per_doc[doc] += 1
        lines, headings, code = corpus[doc]
        if not 5 <= len(snip) <= 60:
            errors.append(f"{qid}: snippet length {len(snip)} (want 5-60 characters)")
        nsnip = ws(snip)
        idx = [k for k, (_, h) in enumerate(headings) if h == heading]
        if not idx:
            errors.append(f"{qid}: {heading!r} is not a heading line of {doc}")
            continue
        if len(idx) > 1:
            warns.append(f"{qid}: heading {heading!r} occurs {len(idx)} times in {doc}; any of them accepted")
        sec = None
        for k in idx:
            s = headings[k][0]
            e = headings[k + 1][0] if k + 1 < len(headings) else len(lines)
            if nsnip in ws("\n".join(lines[s + 1:e])):
                sec = (s, e)
                break
        if nsnip not in flat[doc]:
            errors.append(f"{qid}: snippet not found in {doc}: {snip!r}")
            continue
        if sec is None:
            errors.append(f"{qid}: snippet is in {doc} but not in the section {heading!r}")
            continue
        s, e = sec
        prose = ws("\n".join(l for j, l in enumerate(lines[s + 1:e], s + 1) if j not in code))
        if nsnip not in prose:
            warns.append(f"{qid}: snippet only inside fenced code in its section")
        others = [r for r in corpus if r != doc and nsnip in flat[r]]
        if others:
            errors.append(f"{qid}: snippet also occurs in {others}")
        if flat[doc].count(nsnip) > 1:
            warns.append(f"{qid}: snippet occurs {flat[doc].count(nsnip)} times in {doc}")
        if nsnip.lower() in ws(text).lower():
            warns.append(f"{qid}: question contains its snippet")
        htxt = ws(heading.lstrip("#").strip())
        if len(htxt.split()) > 1 and htxt.lower() in ws(text).lower():
            warns.append(f"{qid}: question copies the multi-word heading {htxt!r}")

    for d, c in sorted(per_doc.items()):
        if c > MAX_PER_PAGE:
            errors.append(f"{d}: {c} questions (max {MAX_PER_PAGE})")
    unused = sorted(set(corpus) - set(per_doc))
    if unused:
        errors.append(f"pages with no question: {unused}")

    total_bytes = sum(os.path.getsize(os.path.join(DOCS, r)) for r in corpus)
    print(f"pages: {len(corpus)} ({total_bytes} bytes)")
    print(f"questions: {n}")
    print(f"  z- (Chinese, answerable): {counts['z']}")
    print(f"  e- (English, answerable): {counts['e']}")
    print(f"  n- (unanswerable): {counts['n']} (zh {lang_count[('n', 'zh')]}, en {lang_count[('n', 'en')]})")
    if per_doc:
        print(f"gold pages: {len(per_doc)}; per page min {min(per_doc.values())}, max {max(per_doc.values())}")
    for w in warns:
        print("WARN", w)
    for e in errors:
        print("ERROR", e)
    if errors:
        print(f"FAIL: {len(errors)} hard errors")
        return 1
    print("OK: all hard checks pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
