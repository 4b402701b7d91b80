#!/usr/bin/env python3
"""Check questions.jsonl against the corpus in docs/ (standard library only).

Adapted for the foreign2 set (Apache ShardingSphere docs): the pages use Hugo TOML
front matter between "+++" lines (title = "..."), so the "title: <t>" convention
reads the title from either YAML ("---", title: ...) or TOML ("+++", title = ...).

Hard checks (exit 1 if any fails):
  - every line parses as a JSON object with exactly the keys
    id, question, doc, heading, answer_snippet
  - ids unique, id prefix is one of z-, e-, xz-, xe-, n-
  - answerable items: gold file exists under docs/; heading is a real ATX
    heading line of that file (outside fenced code blocks and HTML comments),
    or "title: <t>" matching the front-matter title; answer_snippet occurs
    verbatim (whitespace runs collapsed) in the gold file, inside the gold
    section (from the gold heading line to the next heading line of any level;
    for "title: ..." from the end of the front matter to the first heading),
    and in no other corpus file
  - unanswerable items (n-) have doc, heading, answer_snippet all null, and
    answerable items have none of them null
  - language of gold doc matches the prefix (z/xe -> zh/, e/xz -> en/)
  - the key terms of the n- questions (N_ABSENT_TERMS) occur nowhere in docs/
  - no page is gold for more than 6 items
Soft checks (warnings only): snippet length, snippet occurring more than once
inside its own file, snippet only inside fenced code, repeated heading, a
question that copies a multi-word heading.
"""
import json
import os
import re
import sys
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(HERE, "docs")
QFILE = os.path.join(HERE, "questions.jsonl")
KEYS = {"id", "question", "doc", "heading", "answer_snippet"}
PREFIX_LANG = {"z": "zh", "xe": "zh", "e": "en", "xz": "en", "n": None}
# Key terms of the unanswerable (n-) questions: none may occur anywhere in docs/
# (case-insensitive substring match over the raw files).
N_ABSENT_TERMS = ["ShardingSphere-UI", "管理后台", "Nacos", "达梦", "DM8", "慢查询",
                  "慢 SQL", "slow quer", "ElasticJob", "Consul", "MongoDB", "SM4",
                  "Apollo", "Kerberos", "GSSAPI"]

HEADING_RE = re.compile(r"^(#{1,6})[ \t]+\S")
FENCE_RE = re.compile(r"^\s*(```+|~~~+)")


def ws(s):
    return re.sub(r"\s+", " ", s).strip()


def parse(path):
    """Return (lines, headings, title, fm_end) where headings is a list of
    (line_index, stripped_text) for ATX headings outside code/comments."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")
    title = None
    fm_end = 0
    if lines and lines[0].strip() in ("---", "+++"):
        delim = lines[0].strip()
        for i in range(1, len(lines)):
            if lines[i].strip() == delim:
                fm_end = i + 1
                break
            m = re.match(r"^title\s*[:=]\s*(.*?)\s*$", lines[i])
            if m and title is None:
                t = m.group(1)
                if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
                    t = t[1:-1]
                title = t
    headings = []
    code = set()
    in_fence = None
    in_comment = False
    for i in range(fm_end, len(lines)):
        line = lines[i]
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
    return lines, headings, title, fm_end, code


def main():
    corpus = {}
    for root, _, files in os.walk(DOCS):
        for fn in files:
            if fn.endswith(".md"):
                p = os.path.join(root, fn)
                rel = os.path.relpath(p, DOCS).replace(os.sep, "/")
                corpus[rel] = parse(p)
    flat = {rel: ws("\n".join(v[0])) for rel, v in corpus.items()}

    errors = []
    warns = []
    ids = set()
    counts = Counter()
    per_doc = Counter()
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
        except Exception as e:
            errors.append(f"line {ln}: JSON error {e}")
            continue
        if not isinstance(q, dict) or set(q) != KEYS:
            errors.append(f"line {ln}: keys {sorted(q) if isinstance(q, dict) else type(q)}")
            continue
        qid = q["id"]
        if not isinstance(qid, str):
            errors.append(f"line {ln}: id not a string")
            continue
        if qid in ids:
            errors.append(f"{qid}: duplicate id")
        ids.add(qid)
        m = re.match(r"^(z|e|xz|xe|n)-\d{3}$", qid)
        if not m:
            errors.append(f"{qid}: bad id format")
            continue
        pre = m.group(1)
        counts[pre] += 1
        if not isinstance(q["question"], str) or not q["question"].strip():
            errors.append(f"{qid}: empty question")
        vals = [q["doc"], q["heading"], q["answer_snippet"]]
        if pre == "n":
            if any(v is not None for v in vals):
                errors.append(f"{qid}: unanswerable item must have doc/heading/answer_snippet null")
            continue
        if any(not isinstance(v, str) or not v for v in vals):
            errors.append(f"{qid}: doc/heading/answer_snippet must be non-empty strings")
            continue
        doc, heading, snip = vals
        if doc not in corpus:
            errors.append(f"{qid}: gold file {doc} not in corpus")
            continue
        if not doc.startswith(PREFIX_LANG[pre] + "/"):
            errors.append(f"{qid}: prefix {pre} but doc {doc}")
        per_doc[doc] += 1
        lines, headings, title, fm_end, code = corpus[doc]
        # locate section
        start = end = None
        if heading.startswith("title: "):
            if title is None or heading != "title: " + title:
                errors.append(f"{qid}: heading {heading!r} does not match front-matter title {title!r}")
                continue
            start = fm_end
            end = headings[0][0] if headings else len(lines)
        else:
            idx = [k for k, (i, h) in enumerate(headings) if h == heading]
            if not idx:
                errors.append(f"{qid}: heading {heading!r} not a heading line of {doc}")
                continue
            if len(idx) > 1:
                warns.append(f"{qid}: heading {heading!r} occurs {len(idx)} times in {doc}; any section accepted")
            found = False
            for k in idx:
                s = headings[k][0]
                e = headings[k + 1][0] if k + 1 < len(headings) else len(lines)
                if ws(snip) in ws("\n".join(lines[s + 1:e])):
                    found = True
                    start, end = s, e
                    break
            if not found:
                start = -1
        nsnip = ws(snip)
        if nsnip not in flat[doc]:
            errors.append(f"{qid}: snippet not found in {doc}: {snip!r}")
            continue
        if heading.startswith("title: "):
            if nsnip not in ws("\n".join(lines[start:end])):
                errors.append(f"{qid}: snippet not in intro section of {doc}")
        elif start == -1:
            errors.append(f"{qid}: snippet not under heading {heading!r} in {doc}")
        if start is not None and start >= 0 and end is not None:
            prose = ws("\n".join(l for j, l in enumerate(lines[start:end], start) if j not in code))
            if nsnip not in prose:
                warns.append(f"{qid}: snippet only found inside fenced code in its section")
        htxt = heading[7:] if heading.startswith("title: ") else heading.lstrip("#").strip()
        if len(htxt.split()) > 1 and ws(htxt).lower() in ws(q["question"]).lower():
            warns.append(f"{qid}: question copies the multi-word heading {htxt!r}")
        others = [r for r in corpus if r != doc and nsnip in flat[r]]
        if others:
            errors.append(f"{qid}: snippet also occurs in {others}")
        if flat[doc].count(nsnip) > 1:
            warns.append(f"{qid}: snippet occurs {flat[doc].count(nsnip)} times in {doc}")
        # length (soft)
        cjk = len(re.findall(r"[\u4e00-\u9fff]", snip))
        words = len(snip.split())
        if cjk:
            if not (6 <= cjk <= 20) and not (4 <= words <= 15):
                warns.append(f"{qid}: snippet length {cjk} CJK chars / {words} words")
        elif not (4 <= words <= 15):
            warns.append(f"{qid}: snippet length {words} words")
    raw_all = {rel: "\n".join(v[0]).lower() for rel, v in corpus.items()}
    for term in N_ABSENT_TERMS:
        hits = [r for r, t in raw_all.items() if term.lower() in t]
        if hits:
            errors.append(f"n- key term {term!r} occurs in {hits}")
    for d, c in per_doc.items():
        if c > 6:
            errors.append(f"{d}: {c} questions (>6)")

    print(f"items: {n}")
    for pre in ["z", "e", "xz", "xe", "n"]:
        print(f"  {pre}-: {counts[pre]}")
    print(f"gold pages used: {len(per_doc)} of {len(corpus)} corpus files; max per page: {max(per_doc.values()) if per_doc else 0}")
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
