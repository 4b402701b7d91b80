"""The watcher: an edit and a deletion reach the index within 5 s; an unmounted folder and a
sync that would remove most documents delete nothing; a rename re-embeds nothing."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from ingest.syncstatus import read_status
from ingest.watch import Watcher, parse_every
from retrieval.access import ALL
from retrieval.errors import UserError
from retrieval.search import Retriever
from retrieval.store import Store
from tests.conftest import make_settings

DOCS = {f"team/page{i}.md": f"# Page {i}\n\n## Topic {i}\n\nThe code word {i} is W{i}X.\n"
        for i in range(6)}  # fmt: skip


def wait_until(check, timeout_s: float = 5.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if check():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s")


@pytest.fixture()
def watching(tmp_path, embedder):
    docs = tmp_path / "docs"
    for name, text in DOCS.items():
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_text(text)
    settings = make_settings(tmp_path, docs, search_mode="hybrid")
    store = Store(settings)
    syncs = []
    watcher = Watcher(settings, store, embedder, debounce_s=0.3, on_sync=syncs.append)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    wait_until(lambda: syncs, 60)
    yield settings, store, Retriever(settings, store, embedder), docs, syncs
    watcher.stop()
    thread.join(timeout=10)
    store.close()


def docs_in(store) -> set[str]:
    return set(store.docs())


def test_an_edit_and_a_deletion_arrive_within_five_seconds(watching):
    settings, store, retriever, docs, syncs = watching
    assert docs_in(store) == set(DOCS)
    (docs / "team" / "page1.md").write_text("# Page 1\n\n## Topic 1\n\nThe parrot is named Kiwi.\n")
    wait_until(
        lambda: "parrot" in retriever.search("What is the parrot named?", 1, access=ALL)[0].text
    )
    (docs / "team" / "page2.md").unlink()
    wait_until(lambda: "team/page2.md" not in docs_in(store))
    # the sync's record is written just after its version is published: wait for it too
    wait_until(lambda: getattr(read_status(settings), "removed", 0) == 1)
    status = read_status(settings)
    assert status.ok and status.removed == 1 and status.mode == "watch"


def test_starting_syncs_once_and_a_quiet_folder_no_more(watching):
    *_, syncs = watching
    time.sleep(1.5)  # the debounce (0.3 s) and a few ticks: a second sync would have run
    assert len(syncs) == 1 and syncs[0].ok


def test_a_rename_re_embeds_nothing(watching):
    _, store, _, docs, syncs = watching
    (docs / "team" / "page3.md").rename(docs / "team" / "moved.md")
    wait_until(lambda: "team/moved.md" in docs_in(store) and "team/page3.md" not in docs_in(store))
    assert syncs[-1].ok


def test_an_unmounted_folder_deletes_nothing(watching):
    settings, store, _, docs, syncs = watching
    before = docs_in(store)
    shutil.move(docs, docs.with_name("away"))  # the share goes away
    wait_until(lambda: not syncs[-1].ok)
    assert docs_in(store) == before
    assert "not found" in read_status(settings).error
    shutil.move(docs.with_name("away"), docs)  # back again: watching resumes
    (docs / "team" / "page0.md").write_text("# Page 0\n\n## Topic 0\n\nBack with a toucan.\n")
    wait_until(lambda: syncs[-1].ok and syncs[-1].updated == 1, 10)
    assert docs_in(store) == before


def test_removing_most_documents_at_once_is_refused(watching):
    settings, store, _, docs, syncs = watching
    for name in list(DOCS)[:5]:
        (docs / name).unlink()
    wait_until(lambda: not syncs[-1].ok)
    assert "--allow-mass-delete" in syncs[-1].error
    assert docs_in(store) == set(DOCS)  # nothing was changed


def test_intervals():
    assert parse_every("15m") == 900 and parse_every("90s") == 90 and parse_every("2h") == 7200
    with pytest.raises(UserError):
        parse_every("soon")
