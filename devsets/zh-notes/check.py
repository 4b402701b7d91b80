"""Verify the zh-notes retrieval evaluation set. Standard library only.

Run: python3 check.py   (from any directory). Exits 1 and lists every problem if an invariant fails.
"""

import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DOCS = ROOT / "docs"
KEYS = {"id", "question", "doc", "heading", "answer_snippet", "lang"}
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
MAX_PER_DOC = 5

# Key terms of the unanswerable questions: none may occur in any doc (case-insensitive).
ABSENT_TERMS = {
    "n-01": ["Pod", "重启策略"],
    "n-02": ["年假"],
    "n-03": ["Elasticsearch", "分片数量"],
    "n-04": ["报销", "出差"],
    "n-05": ["VPN"],
    "n-06": ["parental", "产假", "育儿假"],
    "n-07": ["Terraform"],
    "n-08": ["GPU", "显卡"],
}

# Lines that start with "# " but are comments inside code samples kept verbatim from the source
# (shell/redis-cli comments), not markdown headings.
CODE_COMMENT_LINES = {
    "# 通",
    "# 超时或 refused",
    "# 内存碎片占用空间达到 500mb 的时候开始清理",
    "# 内存碎片率大于 1.5 的时候开始清理",
    "# 内存碎片清理所占用 CPU 时间的比例不低于 20%",
    "# 内存碎片清理所占用 CPU 时间的比例不高于 50%",
}
BOLD = re.compile(r"\*\*[^*\s][^*]*\*\*")  # markdown bold; a bare "/**" javadoc opener is fine
MARKUP = ["](", "```", "![", "<!--", ":::", "|---", "| ---", "<img", "<br"]
DATE = re.compile(r"(19|20)\d\d[-/年]")
COUNTER = re.compile(r"阅读|浏览|看过")

problems: list[str] = []


def fail(msg: str) -> None:
    problems.append(msg)


def collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def split_page(name: str, lines: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Return (header, body, footer) lines of one page; report structural problems."""
    if len(lines) < 12:
        fail(f"{name}: too short to have header, body and footer")
        return [], lines, []
    try:
        head_end = lines.index("", 3)
    except ValueError:
        fail(f"{name}: no blank line after the header")
        return [], lines, []
    nav = [i for i, ln in enumerate(lines) if ln.startswith(("上一篇：", "下一篇："))]
    if not nav:
        fail(f"{name}: no 上一篇/下一篇 line in the footer")
        return lines[:head_end], lines[head_end:], []
    foot_start = nav[0]
    if foot_start > 0 and lines[foot_start - 1] == "（完）":
        foot_start -= 1
    return lines[:head_end], lines[head_end:foot_start], lines[foot_start:]


def check_docs() -> dict[str, dict[str, str]]:
    pages: dict[str, dict[str, str]] = {}
    files = sorted(DOCS.glob("*"))
    for path in files:
        name = path.name
        if path.suffix != ".txt":
            fail(f"{name}: not a .txt file")
            continue
        raw = path.read_bytes()
        if not 1500 <= len(raw) <= 10 * 1024:
            fail(f"{name}: size {len(raw)} bytes outside 1.5-10 KB")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            fail(f"{name}: not UTF-8")
            continue
        if "\r" in text or "\t\n" in text:
            fail(f"{name}: CR or trailing tab")
        if "\n\n\n\n" in text:
            fail(f"{name}: more than two blank lines in a row")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines = lines[:-1]
        for n, ln in enumerate(lines, 1):
            for mark in MARKUP:
                if mark in ln:
                    fail(f"{name}:{n}: markdown/HTML markup {mark!r} left")
            if BOLD.search(ln):
                fail(f"{name}:{n}: markdown bold left")
            if re.match(r"^#{1,6}\s", ln) and ln not in CODE_COMMENT_LINES:
                fail(f"{name}:{n}: line looks like a markdown heading: {ln[:40]!r}")
            if ln != ln.rstrip():
                fail(f"{name}:{n}: trailing whitespace")
        header, body, footer = split_page(name, lines)
        if header:
            if len(header) < 4 or header[1] != "":
                fail(f"{name}: header must be menu line, blank line, title, date ...")
            elif header[2] != path.stem:
                fail(f"{name}: title line {header[2]!r} differs from the file name")
            if not any(DATE.search(h) for h in header[3:]):
                fail(f"{name}: no date line in the header")
            if not any(COUNTER.search(h) for h in header[3:]):
                fail(f"{name}: no view-counter line in the header")
            if len(CJK.findall(header[0])) < 4:
                fail(f"{name}: first line does not look like a site menu")
        if footer and not any("Apache" in f for f in footer):
            fail(f"{name}: footer lacks the licence/copyright line")
        body_text = "\n".join(body)
        if len(CJK.findall(body_text)) < 500:
            fail(f"{name}: body has fewer than 500 Chinese characters")
        paragraphs = [p for p in body_text.split("\n\n") if p.strip()]
        if len(paragraphs) < 5:
            fail(f"{name}: body has fewer than 5 blank-line separated paragraphs")
        pages[name] = {"full": collapse(text), "body": collapse(body_text)}
    if not 20 <= len(pages) <= 30:
        fail(f"docs: {len(pages)} pages, expected 20-30")
    return pages


def snippet_size_ok(snippet: str) -> bool:
    cjk = len(CJK.findall(snippet))
    if cjk:
        return 6 <= cjk <= 20
    return 4 <= len(snippet.split()) <= 15


def check_questions(pages: dict[str, dict[str, str]]) -> list[dict]:
    rows = []
    qpath = ROOT / "questions.jsonl"
    for n, line in enumerate(qpath.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            fail(f"questions.jsonl:{n}: blank line")
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            fail(f"questions.jsonl:{n}: bad JSON ({exc})")
            continue
        if set(row) != KEYS:
            fail(f"questions.jsonl:{n}: keys {sorted(row)} != {sorted(KEYS)}")
            continue
        rows.append(row)

    ids = Counter(r["id"] for r in rows)
    for i, c in ids.items():
        if c > 1:
            fail(f"{i}: duplicate id")
    qs = Counter(r["question"].strip().lower() for r in rows)
    for q, c in qs.items():
        if c > 1:
            fail(f"duplicate question: {q!r}")

    per_doc: Counter = Counter()
    for r in rows:
        rid, q, lang = r["id"], r["question"], r["lang"]
        if r["heading"] is not None:
            fail(f"{rid}: heading must be null")
        if lang not in ("zh", "en"):
            fail(f"{rid}: lang {lang!r}")
        if not isinstance(q, str) or not q.strip():
            fail(f"{rid}: empty question")
            continue
        if lang == "zh" and not CJK.search(q):
            fail(f"{rid}: zh question without Chinese characters")
        if lang == "en" and CJK.search(q):
            fail(f"{rid}: en question contains Chinese characters")
        if rid.startswith("n-"):
            if r["doc"] is not None or r["answer_snippet"] is not None:
                fail(f"{rid}: unanswerable question must have doc and answer_snippet null")
            terms = ABSENT_TERMS.get(rid)
            if not terms:
                fail(f"{rid}: no key terms listed in ABSENT_TERMS")
                continue
            for term in terms:
                for name, page in pages.items():
                    if term.lower() in page["full"].lower():
                        fail(f"{rid}: key term {term!r} occurs in {name}")
            continue
        if rid.startswith("z-"):
            if lang != "zh":
                fail(f"{rid}: z- questions must be lang zh")
        elif rid.startswith("xe-"):
            if lang != "en":
                fail(f"{rid}: xe- questions must be lang en")
        else:
            fail(f"{rid}: id must start with z-, xe- or n-")
        doc, snip = r["doc"], r["answer_snippet"]
        if doc not in pages:
            fail(f"{rid}: doc {doc!r} not in docs/")
            continue
        if not isinstance(snip, str) or not snip.strip():
            fail(f"{rid}: empty answer_snippet")
            continue
        if not snippet_size_ok(snip):
            fail(f"{rid}: answer_snippet size outside 6-20 Chinese chars / 4-15 words: {snip!r}")
        s = collapse(snip)
        hits = [name for name, page in pages.items() if s in page["full"]]
        if hits != [doc]:
            fail(f"{rid}: answer_snippet found in {hits}, expected exactly [{doc!r}]")
        if s not in pages[doc]["body"]:
            fail(f"{rid}: answer_snippet is not in the article body (boilerplate?)")
        if s in collapse(q):
            fail(f"{rid}: question contains the whole answer_snippet")
        per_doc[doc] += 1

    for name in pages:
        if per_doc[name] == 0:
            fail(f"{name}: no question points at this page")
        if per_doc[name] > MAX_PER_DOC:
            fail(f"{name}: {per_doc[name]} questions, more than {MAX_PER_DOC}")
    return rows


def check_files(pages: dict[str, dict[str, str]]) -> None:
    for must in ("README.md", "SOURCE.md"):
        if not (ROOT / must).is_file():
            fail(f"{must} missing")
    if not list(ROOT.glob("LICENSE-*.txt")):
        fail("no LICENSE-*.txt")
    source = (ROOT / "SOURCE.md").read_text(encoding="utf-8") if (ROOT / "SOURCE.md").is_file() else ""
    for name in pages:
        if name not in source:
            fail(f"SOURCE.md does not list {name}")


def main() -> int:
    pages = check_docs()
    rows = check_questions(pages)
    check_files(pages)
    by = Counter(r["id"].split("-")[0] for r in rows)
    n_lang = Counter(r["lang"] for r in rows if r["id"].startswith("n-"))
    per_doc = Counter(r["doc"] for r in rows if r["doc"])
    sizes = sorted(len((DOCS / n).read_bytes()) for n in pages)
    print(f"docs: {len(pages)} pages, {sizes[0]}-{sizes[-1]} bytes")
    print(
        f"questions: {len(rows)} total; z {by['z']}, xe {by['xe']}, "
        f"n {by['n']} (zh {n_lang['zh']}, en {n_lang['en']})"
    )
    if per_doc:
        print(f"questions per page: min {min(per_doc.values())}, max {max(per_doc.values())}")
    if not 70 <= len(rows) <= 80:
        fail(f"{len(rows)} questions, expected 70-80")
    if not 45 <= by["z"] <= 55:
        fail(f"{by['z']} z- questions, expected about 50")
    if not 12 <= by["xe"] <= 18:
        fail(f"{by['xe']} xe- questions, expected about 15")
    if by["n"] != 8 or n_lang["zh"] != 4 or n_lang["en"] != 4:
        fail("expected 8 n- questions, 4 zh and 4 en")
    if problems:
        print(f"FAIL: {len(problems)} problem(s)")
        for p in problems:
            print(" -", p)
        return 1
    print("OK: all invariants hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
