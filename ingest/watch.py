"""Sync that runs by itself: `python -m ingest --watch` follows the docs folder (watchdog
events, debounced), `--every 15m` re-scans on a schedule (network drives send no events); both
together do both. Each sync is the ordinary incremental ingest, so only what changed is
re-split and only new text is embedded (a rename re-uses the stored vectors).

The loop never dies of one bad sync: a failing file is reported and skipped by the ingest, a
missing folder (an unmounted share) or a sync that would remove most documents changes
nothing and is recorded, and the next change or tick tries again. Every sync writes its record
(ingest/syncstatus.py) for the app's status panel.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ingest.pipeline import IngestBusyError, ingest
from ingest.readers import DocError
from ingest.syncstatus import SyncStatus, now, write_status
from retrieval.embeddings import Embedder
from retrieval.errors import UserError
from retrieval.settings import Settings
from retrieval.store import Store

log = logging.getLogger("ingest.watch")
TICK_S = 0.2
CHANGES = {"created", "modified", "deleted", "moved", "closed"}  # 'closed' after a write


def parse_every(text: str) -> float:
    """'90s', '15m', '2h' or a number of seconds -> seconds."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not found or float(found.group(1)) <= 0:
        raise UserError(f"invalid interval {text!r}: use e.g. 90s, 15m or 2h")
    return float(found.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[found.group(2)]


class Watcher:
    """Follows one docs folder and syncs the index with it."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        embedder: Embedder,
        events: bool = True,
        every_s: float | None = None,
        debounce_s: float = 1.0,
        allow_mass_delete: bool = False,
        on_sync: Callable[[SyncStatus], None] | None = None,
    ):
        self.settings, self.store, self.embedder = settings, store, embedder
        self.events, self.every_s, self.debounce_s = events, every_s, debounce_s
        self.allow_mass_delete = allow_mass_delete
        self.on_sync = on_sync
        self.stop_event = threading.Event()
        self._dirty_at: float | None = None
        self._observer = None
        self._last_ok = True
        mode = [
            m for m in ("watch" if events else "", f"every {every_s:g}s" if every_s else "") if m
        ]
        self.mode = " + ".join(mode) or "once"

    def changed(self, event=None) -> None:
        """A change (reads are no change: the sync itself opens every file) makes a sync due
        once things have been quiet for the debounce time."""
        if event is not None and event.event_type not in CHANGES:
            return
        self._dirty_at = time.monotonic()

    def run(self) -> None:
        """Sync now, then on every (debounced) change and tick, until `stop()`. The folder is
        watched from before the first sync, which covers all that came before it."""
        self._keep_observing(catch_up=False)
        last = self.sync()
        while not self.stop_event.wait(TICK_S):
            self._keep_observing()
            quiet = (
                self._dirty_at is not None and time.monotonic() - self._dirty_at >= self.debounce_s
            )
            due = self.every_s is not None and time.monotonic() - last >= self.every_s
            if quiet or due:
                self._dirty_at = None
                last = self.sync()
        self._stop_observer()

    def stop(self) -> None:
        self.stop_event.set()

    def sync(self) -> float:
        """One incremental ingest, recorded; never raises."""
        try:
            report = ingest(
                self.settings, self.store, self.embedder, allow_mass_delete=self.allow_mass_delete
            )
            status = SyncStatus.of(report, self.mode)
        except IngestBusyError:
            self._dirty_at = time.monotonic()  # another ingest runs: try again shortly
            return time.monotonic()
        except (UserError, DocError) as exc:
            status = SyncStatus(now(), False, error=str(exc), mode=self.mode)
        except Exception as exc:  # the loop outlives any one sync  # noqa: BLE001
            log.exception("sync failed")
            status = SyncStatus(now(), False, error=f"sync failed: {exc}", mode=self.mode)
        self._record(status)
        return time.monotonic()

    def _record(self, status: SyncStatus) -> None:
        self._last_ok = status.ok
        try:
            write_status(self.settings, status)
        except OSError as exc:
            log.warning("cannot write the sync status: %s", exc)
        if status.ok:
            log.info("synced: %s", status.changes)
        else:
            log.warning("sync skipped: %s", status.error)
        if self.on_sync:
            self.on_sync(status)

    def _keep_observing(self, catch_up: bool = True) -> None:
        """Watch the folder while it exists; re-arm when an unmounted share comes back (and
        sync, with `catch_up`, for whatever happened while nobody watched)."""
        if not self.events:
            return
        folder = Path(self.settings.docs_dir)
        present = folder.is_dir()
        if self._observer is not None and self._observer.is_alive() and present:
            return
        self._stop_observer()
        if not present:  # gone (an unmounted share): record it once, delete nothing
            if self._last_ok and self._dirty_at is None:
                self.changed()
            return
        self._start_observer(folder)
        if catch_up:
            self.changed()

    def _start_observer(self, folder: Path) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        handler = FileSystemEventHandler()
        handler.on_any_event = self.changed
        observer = Observer()
        observer.schedule(handler, str(folder), recursive=True)
        observer.start()
        self._observer = observer

    def _stop_observer(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
