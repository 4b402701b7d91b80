"""Imports point one way (app -> retrieval -> prompts, ingest -> retrieval); pymilvus once."""

from __future__ import annotations

import ast
import re

from tests.conftest import ROOT

ALLOWED = {
    "app": {"app", "retrieval", "prompts"},
    "ingest": {"ingest", "retrieval"},
    "retrieval": {"retrieval", "prompts"},
    "prompts": {"prompts"},
}
OURS = set(ALLOWED) | {"tests", "bench"}


def imports(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_layers_hold():
    for package, allowed in ALLOWED.items():
        for path in (ROOT / package).rglob("*.py"):
            ours = {name.split(".")[0] for name in imports(path)} & OURS
            assert ours <= allowed, f"{path.relative_to(ROOT)} imports {sorted(ours - allowed)}"


def test_pymilvus_only_in_the_store():
    for package in ALLOWED:
        for path in (ROOT / package).rglob("*.py"):
            uses = any(name.split(".")[0] == "pymilvus" for name in imports(path))
            assert not uses or path == ROOT / "retrieval" / "store.py", path


def test_only_settings_reads_our_variables():
    reads = re.compile(r"""os\.(?:environ\.get|getenv)\(\s*["']RAG_|os\.environ\[["']RAG_""")
    for package in ALLOWED:
        for path in (ROOT / package).rglob("*.py"):
            assert not reads.search(path.read_text(encoding="utf-8")), path
