"""make installs only when what it installs from changed, and quietly: run with the real make on
a copy of the Makefile, with a pip that records its calls and chatters as setuptools does."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from tests.conftest import ROOT

PIP = """#!/bin/sh
echo "$@" >> "$(dirname "$0")/calls"
echo "running egg_info ... Editable install banner"
[ -z "$PIP_FAILS" ] || { echo "ERROR: no matching distribution"; exit 1; }
"""


def project(tmp_path):
    for name in ["Makefile", "requirements.txt", "requirements-dev.txt", "pyproject.toml"]:
        shutil.copy(ROOT / name, tmp_path / name)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ["pip", "python"]:
        (bin_dir / name).write_text(PIP)
        (bin_dir / name).chmod(0o755)
    return tmp_path, bin_dir / "calls"


def make(where, target, **env):
    result = subprocess.run(["make", "-s", target], cwd=where, capture_output=True, text=True,
                            env={**os.environ, **env}, timeout=60)  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def test_install_runs_once_quietly_and_again_when_requirements_change(tmp_path):
    where, calls = project(tmp_path)
    code, out = make(where, "install")
    assert code == 0 and out.strip() == "installing requirements.txt and docs-qa into .venv"
    assert len(calls.read_text().splitlines()) == 2
    assert make(where, "install") == (0, "")  # nothing changed: nothing installed, nothing said
    assert len(calls.read_text().splitlines()) == 2
    later = time.time() + 5
    os.utime(where / "requirements.txt", (later, later))
    assert make(where, "install")[0] == 0 and len(calls.read_text().splitlines()) == 4


def test_install_dev_covers_install_and_a_failure_is_shown(tmp_path):
    where, calls = project(tmp_path)
    code, out = make(where, "install-dev", PIP_FAILS="1")
    assert code != 0 and "ERROR: no matching distribution" in out  # the chatter, when it matters
    assert not (where / ".venv" / ".installed-dev").exists()  # failed: tried again next time
    assert make(where, "install-dev")[0] == 0
    assert make(where, "install") == (0, "")  # the dev install did the runtime one too
