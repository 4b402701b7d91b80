"""The last sync's record: what the watcher (or any ingest) changed, when, and what failed.

Written by the ingest side as one JSON file beside the index (atomically), read by the app's
status panel, so neither runs inside the other's process.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from retrieval.files import write_atomic
from retrieval.settings import Settings
from retrieval.store.local_server import alive
from retrieval.types import IngestReport


@dataclass(frozen=True)
class SyncStatus:
    at: str  # local time of the sync
    ok: bool
    added: int = 0
    updated: int = 0
    removed: int = 0
    failed: list[dict] = field(default_factory=list)  # {"path", "error"}
    error: str = ""  # why the sync did not run (folder missing, mass delete refused, ...)
    mode: str = ""  # 'watch', 'every 15m' or 'once'
    ocr_pages: int = 0  # pictures (scanned pages, images) read with OCR
    ocr_seconds: float = 0.0

    @classmethod
    def of(cls, report: IngestReport, mode: str) -> SyncStatus:
        """The record of an ingest that ran."""
        failed = [{"path": f.path, "error": f.error} for f in report.docs_failed]
        return cls(now(), True, report.docs_added, report.docs_updated, report.docs_removed,
                   failed, mode=mode, ocr_pages=report.ocr_pages,
                   ocr_seconds=report.ocr_seconds)  # fmt: skip

    @property
    def changes(self) -> str:
        if not self.ok:
            return self.error
        done = f"{self.added} added · {self.updated} updated · {self.removed} removed"
        if self.ocr_pages:
            done += f" · {self.ocr_pages} pages OCR'd in {self.ocr_seconds:.1f} s"
        return done


def status_path(settings: Settings) -> Path:
    return settings.data_dir() / f"{settings.collection}.sync-status.json"


def write_status(settings: Settings, status: SyncStatus) -> None:
    write_atomic(status_path(settings), json.dumps(asdict(status), ensure_ascii=False))


def read_status(settings: Settings) -> SyncStatus | None:
    try:
        return SyncStatus(**json.loads(status_path(settings).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


@dataclass(frozen=True)
class IngestProgress:
    """How far the running ingest is (written by it, shown by the app while the index is
    still empty); `stage` is files, chunks or embedding."""

    stage: str
    done: int
    total: int
    pid: int = 0


def progress_path(settings: Settings) -> Path:
    return settings.data_dir() / f"{settings.collection}.ingest-progress.json"


def write_progress(settings: Settings, progress: IngestProgress) -> None:
    write_atomic(progress_path(settings), json.dumps(asdict(progress)))


def read_progress(settings: Settings) -> IngestProgress | None:
    """The running ingest's progress; None when none runs (or it died without a word)."""
    try:
        found = IngestProgress(**json.loads(progress_path(settings).read_text("utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    return found if alive(found.pid) else None


def clear_progress(settings: Settings) -> None:
    with contextlib.suppress(OSError):
        progress_path(settings).unlink()


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")
