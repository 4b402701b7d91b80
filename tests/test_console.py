"""The project installs as a package: one `docs-qa` command, dependencies declared once."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import ROOT, SMALL, write_docs

DOCS_QA = Path(sys.executable).with_name("docs-qa")


def pins(path: Path) -> list[str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("-r")]


def test_pyproject_declares_exactly_the_pinned_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == pins(ROOT / "requirements.txt")
    assert project["optional-dependencies"]["dev"] == pins(ROOT / "requirements-dev.txt")
    assert project["scripts"]["docs-qa"] == "docs_qa.__main__:main"
    assert all(re.fullmatch(r"[\w.-]+==[\w.]+", pin) for pin in project["dependencies"])


def test_docs_qa_ingests_and_searches_without_pythonpath(tmp_path):
    docs = write_docs(tmp_path / "docs", SMALL)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["RAG_EMBEDDING_MODEL"] = "minilm-offline"
    db = str(tmp_path / "x.db")

    def run(*args):
        return subprocess.run(
            [str(DOCS_QA), *args], cwd=tmp_path, env=env, capture_output=True, text=True
        )

    assert run("ingest", str(docs), "--db", db, "--json").returncode == 0
    found = run("search", "vpn password expiry", "--db", db, "--json", "--k", "1")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)[0]["doc"] == "it/vpn.md"
    unknown = run("frobnicate")
    assert unknown.returncode == 2 and "unknown command" in unknown.stderr
    assert run("--help").returncode == 0


def test_every_front_door_is_a_module_with_a_main():
    """`docs-qa X` runs X's module: each one imports, from outside the repo, and has main()."""
    from docs_qa.__main__ import COMMANDS

    modules = [module for module, _ in COMMANDS.values() if module]
    code = "import importlib, sys; [importlib.import_module(m).main for m in sys.argv[1:]]"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", code, *modules], cwd="/", env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
