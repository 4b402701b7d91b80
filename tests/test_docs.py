"""The README and the pages under docs/: every local link and image resolves (file and
#anchor), the README stays short, and it links every page."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.conftest import ROOT

README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
MAX_README_LINES = 250

FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
EXTERNAL = ("http://", "https://", "mailto:")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fence = [], None
    for line in text.splitlines():
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)[0] * 3
        elif fence is not None and line.strip().startswith(fence):
            fence = None
        elif fence is None:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text without markup, lower-cased, punctuation other
    than hyphens and spaces dropped (letters of any script kept), spaces to hyphens."""
    text = INLINE_LINK.sub(r"\1", heading)
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading's anchor on a page; a repeated heading gets -1, -2, ..."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for line in prose_lines(page.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def local_links(page: Path) -> list[str]:
    """The targets of a page's links and images that are not web or mail addresses."""
    targets = []
    for line in prose_lines(page.read_text(encoding="utf-8")):
        for match in LINK.finditer(line):
            target = match.group(1)
            if not target.lower().startswith(EXTERNAL):
                targets.append(target)
    return targets


def test_slug_follows_github():
    assert slug("Who is asking: three sign-in modes") == "who-is-asking-three-sign-in-modes"
    assert slug("What the default is, and why") == "what-the-default-is-and-why"
    assert slug("The `docs-qa` command") == "the-docs-qa-command"
    assert slug("安装 and 配置 (zh)") == "安装-and-配置-zh"
    assert slug("See [the API](integrator.md)") == "see-the-api"


def test_repeated_headings_are_numbered(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Notes\n\n## Notes\n\n```\n# not a heading\n```\n\n## Notes\n")
    assert anchors(page) == {"notes", "notes-1", "notes-2"}


def test_links_inside_code_are_skipped(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[a](a.md)\n\n   ```bash\n[b](b.md)\n   ```\n\n~~~\n[c](c.md)\n~~~\n")
    assert local_links(page) == ["a.md"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_local_links_resolve(page: Path):
    broken = []
    for target in local_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / unquote(path)).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and unquote(anchor) not in anchors(dest):
            broken.append(f"{target}: no heading with that anchor in {dest.name}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_readme_is_short():
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines < MAX_README_LINES, f"README.md has {lines} lines"


def test_readme_links_every_page():
    linked = {
        (README.parent / unquote(target.partition("#")[0])).resolve()
        for target in local_links(README)
        if target.partition("#")[0]
    }
    missing = [p.name for p in PAGES[1:] if p.resolve() not in linked]
    assert not missing, f"README.md does not link {missing}"


@pytest.mark.parametrize("span", ["eval", "answers"])
def test_eval_tables_have_one_home(span):
    """`make eval` and `make eval-answers` rewrite what lies between their markers: each pair
    appears once, in one page."""
    start, end = f"<!-- {span}:start -->", f"<!-- {span}:end -->"
    homes = [p.name for p in PAGES if start in p.read_text(encoding="utf-8")]
    assert homes == ["evaluation.md"]
    text = (ROOT / "docs" / "evaluation.md").read_text(encoding="utf-8")
    assert text.count(start) == text.count(end) == 1
    assert text.index(start) < text.index(end)
