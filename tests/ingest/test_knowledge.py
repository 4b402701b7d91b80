"""Knowledge bases at ingest (real Milvus Lite): one per top-level folder by default, named and
grouped by knowledge.toml, a regrouping takes effect on the next sync without re-embedding, a
broken knowledge file is reported and the defaults stand in."""

from __future__ import annotations

from ingest.pipeline import ingest
from retrieval.access import ALL, Access
from retrieval.knowledge import GENERAL, base_name, load_knowledge
from retrieval.search import Retriever

TOML = """
[people]
title = "People"
title_zh = "人事"
folders = ["hr", "office"]
"""


def bases(store, access=ALL) -> dict[str, int]:
    return {name: count.docs for name, count in store.bases(access=access).items()}


def test_each_top_level_folder_is_a_base_and_the_filter_holds(small, embedder):
    settings, store, docs = small
    (docs / "readme.md").write_text("# About\n\nThese are the staff docs.\n")
    ingest(settings, store, embedder)
    assert bases(store) == {"eng": 1, GENERAL: 1, "hr": 1, "it": 1, "office": 1}
    retriever = Retriever(settings, store, embedder)
    hits = retriever.search("how many vacation days do I get", 5, access=ALL.within(["it"]))
    assert hits and {h.doc for h in hits} == {"it/vpn.md"} and {h.kb for h in hits} == {"it"}
    two = retriever.search("vacation days", 5, access=ALL.within(["it", "hr"]))
    assert {h.doc for h in two} == {"it/vpn.md", "hr/leave.md"}
    assert store.counts(access=ALL.within(["hr"])) == (1, 1)


def test_a_regrouping_takes_effect_on_the_next_sync_without_re_embedding(small, embedder):
    settings, store, docs = small
    ingest(settings, store, embedder)
    (docs / "knowledge.toml").write_text(TOML, encoding="utf-8")
    report = ingest(settings, store, embedder)
    assert report.chunks_embedded == 0 and report.docs_updated == 2  # hr/ and office/ moved
    assert bases(store) == {"eng": 1, "it": 1, "people": 2}
    retriever = Retriever(settings, store, embedder)
    hits = retriever.search("lunch and leave", 5, access=ALL.within(["people"]))
    assert {h.doc for h in hits} == {"hr/leave.md", "office/lunch.md"}
    (docs / "knowledge.toml").write_text(TOML.replace("People", "Our people"), encoding="utf-8")
    assert ingest(settings, store, embedder).docs_updated == 0  # a title is no change to rows
    assert settings.knowledge().base("people").label() == "Our people"


def test_a_base_closed_to_a_group_is_not_listed_to_others(small, embedder):
    settings, store, docs = small
    (docs / "hr" / ".access").write_text("hr\n")
    ingest(settings, store, embedder)
    assert "hr" not in bases(store, Access.of(["it"]))
    assert "hr" in bases(store, Access.of(["hr"])) and "hr" in bases(store)
    retriever = Retriever(settings, store, embedder)
    outsider = Access.of(["it"]).within(["hr"])  # asking for it anyway finds nothing
    assert retriever.search("vacation days", 5, access=outsider) == []


def test_a_broken_knowledge_file_is_reported_and_the_defaults_stand_in(small, embedder):
    settings, store, docs = small
    (docs / "knowledge.toml").write_text("[people\ntitle = 1\n", encoding="utf-8")
    report = ingest(settings, store, embedder)
    assert any("knowledge.toml cannot be read" in f.error for f in report.docs_failed)
    assert set(bases(store)) == {"eng", "hr", "it", "office"}  # nothing lost
    (docs / "knowledge.toml").write_text(
        '["bad name!"]\ntitle = "x"\n[ok]\nfolders = ["hr", "it"]\n[twice]\nfolders = ["hr"]\n'
    )
    problems = load_knowledge(docs).problems
    assert any("[bad name!] has an invalid name" in p for p in problems)
    assert any("[twice] lists ['hr'], already in [ok]" in p for p in problems)


def test_base_names_from_folder_names():
    assert base_name("HR Handbook") == "hr-handbook"
    assert base_name("人事 资料") == "人事-资料"
    assert base_name("...") == GENERAL


def test_a_chinese_folder_is_a_base_that_filters(small, embedder):
    settings, store, docs = small
    (docs / "人事").mkdir()
    (docs / "人事" / "年假.md").write_text("# 年假\n\n全职员工每年有 27 天带薪年假。\n")
    ingest(settings, store, embedder)
    assert bases(store)["人事"] == 1
    hits = Retriever(settings, store, embedder).search("年假", 5, access=ALL.within(["人事"]))
    assert [h.doc for h in hits] == ["人事/年假.md"]


def test_an_index_from_before_knowledge_bases_upgrades_on_the_next_sync(
    small, embedder, monkeypatch
):
    """A schema-5 index (no kb field): the next sync rebuilds it once without re-embedding,
    keeping a document that cannot be read now, in the base the rules give it."""
    import pymilvus

    from ingest import pipeline
    from retrieval.store import schema

    settings, store, docs = small
    with monkeypatch.context() as old:
        add_field, entity = pymilvus.CollectionSchema.add_field, schema.ChunkRow.entity

        def without_kb(self, name, *args, **kwargs):
            return self if name == "kb" else add_field(self, name, *args, **kwargs)

        def entity_without_kb(self, added):
            return {k: v for k, v in entity(self, added).items() if k != "kb"}

        old.setattr(pymilvus.CollectionSchema, "add_field", without_kb)
        old.setattr(schema.ChunkRow, "entity", entity_without_kb)
        old.setattr(schema, "SCHEMA_VERSION", "5")
        old.setattr(pipeline, "SCHEMA_VERSION", "5")
        ingest(settings, store, embedder)
    assert store.info().schema == "5" and bases(store) == {GENERAL: 4}  # one base, before
    (docs / "eng" / "deploy.md").write_text("")  # unreadable now: its rows are kept
    report = ingest(settings, store, embedder)
    assert report.chunks_embedded == 0 and store.info().schema == "6"
    assert bases(store) == {"eng": 1, "hr": 1, "it": 1, "office": 1}
    hits = Retriever(settings, store, embedder).search("deploys", 3, access=ALL.within(["eng"]))
    assert [h.doc for h in hits] == ["eng/deploy.md"]
