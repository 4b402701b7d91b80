"""Imports point one way, from the front doors down to the search core; pymilvus once.

docs_qa, bench
  -> app (the chat)
    -> server (API, MCP), evaluation
      -> ingest (the docs folder, sync records, uploads, jobs)
        -> accounts (users, conversations, feedback)
          -> retrieval (the search core)
            -> prompts
"""

from __future__ import annotations

import ast
import re

from tests.conftest import ROOT

CORE = {"retrieval", "prompts"}
ALLOWED = {
    "prompts": {"prompts"},
    "retrieval": CORE,
    "accounts": {"accounts"} | CORE,
    "ingest": {"ingest", "accounts"} | CORE,
    "server": {"server", "accounts"} | CORE,
    "evaluation": {"evaluation", "ingest"} | CORE,
    "app": {"app", "server", "ingest", "accounts"} | CORE,
    "bench": {"bench", "server", "evaluation", "ingest", "accounts"} | CORE,
    "docs_qa": {"docs_qa", "app", "server", "evaluation", "ingest", "accounts"} | CORE,
}
OURS = set(ALLOWED) | {"tests"}
PRODUCT = [p for p in ALLOWED if p != "bench"]
# Inside the store package, each part imports only the parts before it.
STORE_ORDER = [
    "local_server", "connect", "schema", "live", "catalog", "versions", "resident", "search",
]  # fmt: skip


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
    store = ROOT / "retrieval" / "store"
    for package in PRODUCT:  # bench/ runs pymilvus's own code on purpose: the tutorial pipeline
        for path in (ROOT / package).rglob("*.py"):
            uses = any(name.split(".")[0] == "pymilvus" for name in imports(path))
            assert not uses or path.is_relative_to(store), path


def test_store_parts_import_one_way():
    for part in STORE_ORDER:
        path = ROOT / "retrieval" / "store" / f"{part}.py"
        used = {
            name.split(".")[2]
            for name in imports(path)
            if name.startswith("retrieval.store.") and len(name.split(".")) > 2
        }
        before = set(STORE_ORDER[: STORE_ORDER.index(part)])
        assert used <= before, f"{part}.py imports {sorted(used - before)}"


def test_only_settings_reads_our_variables():
    reads = re.compile(r"""os\.(?:environ\.get|getenv)\(\s*["']RAG_|os\.environ\[["']RAG_""")
    for package in ALLOWED:
        for path in (ROOT / package).rglob("*.py"):
            assert not reads.search(path.read_text(encoding="utf-8")), path


def test_no_package_holds_most_of_the_code():
    """The layout shows the house: no folder holds more than 40% of the code's lines (tests
    aside)."""
    lines = {
        p: sum(len(f.read_text(encoding="utf-8").splitlines()) for f in (ROOT / p).rglob("*.py"))
        for p in ALLOWED
    }
    total = sum(lines.values())
    for package, count in lines.items():
        assert count <= 0.4 * total, f"{package}/ holds {count} of {total} lines"


def test_who_asks_is_never_implicit():
    """No function that takes `access` gives it a default: a caller that forgets to say who asks
    gets an error, never every group's passages (admins pass `ALL` by name)."""
    defaulted = []
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    a = node.args
                    positional = a.posonlyargs + a.args
                    with_default = positional[len(positional) - len(a.defaults) :]
                    with_default += [
                        k for k, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d
                    ]
                    if any(arg.arg == "access" for arg in with_default):
                        defaulted.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not defaulted, defaulted
