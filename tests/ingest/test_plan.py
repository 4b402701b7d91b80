"""Planning an ingest is a pure function: files on disk + the index's catalog -> a plan."""

from __future__ import annotations

from ingest.plan import make_plan


def test_first_build_splits_everything():
    plan = make_plan({"a.md": "1", "b.md": "2"}, set(), None, full=False)
    assert plan.full and plan.add == ("a.md", "b.md") and plan.split == ("a.md", "b.md")
    assert not plan.idle


def test_incremental_plan_adds_updates_removes_and_leaves_the_rest():
    live = {"same.md": "1", "edited.md": "2", "gone.md": "3"}
    disk = {"same.md": "1", "edited.md": "2b", "new.md": "4"}
    plan = make_plan(disk, set(), live, full=False)
    assert not plan.full
    assert (plan.add, plan.update, plan.remove) == (("new.md",), ("edited.md",), ("gone.md",))
    assert plan.unchanged == ("same.md",) and plan.split == ("edited.md", "new.md")


def test_nothing_changed_is_idle():
    plan = make_plan({"a.md": "1"}, set(), {"a.md": "1"}, full=False)
    assert plan.idle and plan.unchanged == ("a.md",)


def test_an_unreadable_file_is_neither_removed_nor_lost_in_a_full_build():
    live = {"broken.md": "1", "ok.md": "2"}
    plan = make_plan({"ok.md": "2"}, {"broken.md"}, live, full=False)
    assert plan.remove == () and plan.idle
    rebuilt = make_plan({"ok.md": "2"}, {"broken.md"}, live, full=True)
    assert rebuilt.keep == ("broken.md",) and rebuilt.split == ("ok.md",)


def test_rows_that_disagree_are_rechecked_and_a_due_rebuild_resplits_everything():
    plan = make_plan({"a.md": "1", "b.md": "2"}, set(), {"a.md": None, "b.md": "2"}, full=False)
    assert plan.update == ("a.md",) and plan.split == ("a.md",)
    due = make_plan({"a.md": "1", "b.md": "2"}, set(), {"a.md": None, "b.md": "2"}, False, True)
    assert due.full and due.update == ("a.md",) and due.split == ("a.md", "b.md")
    quiet = make_plan({"a.md": "1"}, set(), {"a.md": "1"}, False, rebuild_due=True)
    assert quiet.idle  # a due rebuild waits for the next real change
