"""`python -m ingest [DOCS_DIR] [--db URI] [--json] [--rebuild]`: bring the index up to date;
`--watch` and/or `--every 15m` keep it so (see ingest/watch.py)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys

from tqdm import tqdm

from ingest.pipeline import ingest
from ingest.syncstatus import SyncStatus, write_status
from ingest.watch import Watcher, parse_every
from retrieval.cli import fail_cleanly
from retrieval.search import embedder_for
from retrieval.settings import load_settings
from retrieval.store import Store
from retrieval.types import IngestReport


class Bars:
    """Terminal progress: one tqdm bar per stage (files, chunks, embedding)."""

    def __init__(self):
        self.bars: dict[str, tqdm] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(total=total, desc=stage, unit="item", file=sys.stderr)
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def json_progress(stage: str, done: int, total: int) -> None:
    """Machine-readable progress on stderr, one JSON object per line (used by the app)."""
    print(json.dumps({"stage": stage, "done": done, "total": total}), file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest", description=__doc__)
    parser.add_argument("docs_dir", nargs="?", default=None, help="default: RAG_DOCS_DIR")
    parser.add_argument("--db", default=None, help="Milvus Lite path or http://host:19530")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--progress",
        choices=["bar", "json", "none"],
        default=None,
        help="progress on stderr (default: bar, or none with --json)",
    )
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="re-embed everything (e.g. after changing the embedding model)",
    )
    parser.add_argument(
        "--watch", action="store_true", help="follow the folder and sync on changes"
    )
    parser.add_argument("--every", help="also re-scan on a schedule, e.g. 15m (network drives)")
    parser.add_argument(
        "--debounce", type=float, default=1.0, help="seconds of quiet before a sync"
    )
    parser.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="allow a sync to remove more than RAG_MAX_DELETE_SHARE of the documents",
    )
    args = parser.parse_args(argv)
    if args.watch or args.every:
        return watch_main(args)
    mode = args.progress or ("none" if args.json else "bar")
    bars = Bars() if mode == "bar" else None
    progress = bars or (json_progress if mode == "json" else None)
    with fail_cleanly():
        settings = load_settings(docs_dir=args.docs_dir, store_uri=args.db)
        store = Store(settings)
        embedder = embedder_for(settings, store, follow_index=not args.rebuild)
        options = {"progress": progress} if progress else {}
        options["allow_mass_delete"] = args.allow_mass_delete
        report = ingest(settings, store, embedder, rebuild=args.rebuild, **options)
        store.close()
        record(settings, report)
    if bars:
        bars.close()
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        print_summary(report)
    return 0


def record(settings, report: IngestReport) -> None:
    """A one-off ingest is a sync too: the app's status panel shows it."""
    with contextlib.suppress(OSError):  # the index is what matters; the record is a courtesy
        write_status(settings, SyncStatus.of(report, "once"))


def watch_main(args) -> int:
    """Run the watcher until interrupted (Ctrl-C, or SIGTERM from systemd)."""
    import signal

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with fail_cleanly():
        settings = load_settings(docs_dir=args.docs_dir, store_uri=args.db)
        every = parse_every(args.every) if args.every else None
        store = Store(settings)
        embedder = embedder_for(settings, store)
        options = {"debounce_s": args.debounce, "allow_mass_delete": args.allow_mass_delete}
        watcher = Watcher(settings, store, embedder, args.watch, every, **options)
        signal.signal(signal.SIGTERM, lambda *_: watcher.stop())
        print(f"syncing {settings.docs_dir} ({watcher.mode}); Ctrl-C stops", file=sys.stderr)
        try:
            watcher.run()
        except KeyboardInterrupt:
            watcher.stop()
        finally:
            store.close()
    return 0


def print_summary(report: IngestReport) -> None:
    print(
        f"{report.docs_added} added, {report.docs_updated} updated, {report.docs_removed} removed, "
        f"{report.docs_unchanged} unchanged, {len(report.docs_failed)} failed; "
        f"{report.chunks_embedded} chunks embedded, {report.chunks_total} in the index "
        f"({report.embedding_model}, {report.seconds:.1f} s)"
    )
    for failure in report.docs_failed:
        print(f"  skipped {failure.path}: {failure.error}")
    for read in report.docs_decoded:
        print(f"  read {read['path']} as {read['encoding']} (not UTF-8)")
    for notice in report.notices:
        print(f"  note: {notice}")


if __name__ == "__main__":
    sys.exit(main())
