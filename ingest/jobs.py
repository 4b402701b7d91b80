"""Starting the ingest job: written once, for every front door that needs it.

The job is `python -m ingest` in its own process (what an admin runs by hand), so a long ingest
never blocks a chat session and a crash in it cannot take the app down.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from retrieval.errors import UserError
from retrieval.types import IngestReport

ROOT = Path(__file__).resolve().parent.parent
Progress = Callable[[str, int, int], None]


class IngestJobError(UserError):
    """The ingest job failed; the message is its one-line error."""


def run_ingest_job(
    docs_dir: Path,
    store_uri: str,
    env: Mapping[str, str] | None = None,
    on_progress: Progress | None = None,
    rebuild: bool = False,
) -> IngestReport:
    """Run the ingest job to the end and return its report; progress events are passed on."""
    command = [sys.executable, "-m", "ingest", str(docs_dir), "--db", store_uri, "--json"]
    command += ["--progress", "json"] + (["--rebuild"] if rebuild else [])
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    process = subprocess.Popen(
        command, cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    errors = []
    for line in process.stderr:
        try:
            event = json.loads(line)
            if on_progress:
                on_progress(event["stage"], event["done"], event["total"])
        except (ValueError, KeyError, TypeError):
            errors.append(line.strip())
    out = process.stdout.read()
    if process.wait() != 0:
        message = next((e for e in reversed(errors) if e.startswith("error:")), "")
        raise IngestJobError(message.removeprefix("error: ") or "the ingest job failed")
    return IngestReport.from_dict(json.loads(out))
