"""Weak when the question names something no passage found mentions: known-answer cases (a
retrieval built by hand, as `Retriever.retrieve` returns it, strong by every other rule), each
changed in one way that must undo it."""

from __future__ import annotations

from dataclasses import replace

from retrieval.refusal import is_weak, names, unknown_names
from retrieval.search import Retrieval
from retrieval.settings import Settings
from retrieval.types import Hit

ROLES = Hit("admin/roles.md", "Roles > Groups",
            "Keelson roles are granted to groups in the console under Settings > Access.",
            0.71, "top", standing=6.0, lang="en")  # fmt: skip
SETTINGS = Settings(_env_file=None, unknown_name_weak=True)


def retrieval(query: str, mention: str = "") -> Retrieval:
    """A top passage that stands out clearly (not weak by standing or a common word), among
    24 dense and 8 BM25 candidates; `mention` is put into the text of the last dense one."""
    dense = [ROLES] + [
        Hit("x.md", "Other", f"passage {n} about jobs and queues", 0.5 - 0.01 * n, f"d{n}")
        for n in range(1, 24)
    ]
    dense.append(Hit("y.md", "Last", f"The last passage names {mention}.", 0.2, "d24"))
    return Retrieval(query, [ROLES, *dense[1:3]], dense, dense[:8], standout=4.0)


def test_names_are_words_written_as_names():
    assert names("sync keelson roles from LDAP groups") == ["LDAP"]
    assert names("use Consul as the registry center for cluster mode") == ["Consul"]
    assert names("API 支持 GraphQL 查询吗") == ["API", "GraphQL"]
    assert names("where can I get a W-9 form for our accounts payable") == ["W-9"]
    assert names("Consul as the registry center? Is Nacos fine") == ["Nacos"]  # Consul opens
    assert names("Can I work from home on Fridays") == ["Fridays"]
    assert names("HOW DO I SYNC ROLES FROM LDAP") == []  # typed in capitals: case says nothing
    assert names("how do i sync roles from groups") == []
    assert names("LDAP 能用吗") == ["LDAP"]


def test_a_name_no_candidate_mentions_makes_a_strong_match_weak():
    question = "sync keelson roles from LDAP groups"
    assert not is_weak(retrieval("sync keelson roles from groups"), SETTINGS)  # strong
    assert unknown_names(retrieval(question), SETTINGS) == ["LDAP"]
    assert is_weak(retrieval(question), SETTINGS)


def test_each_change_that_undoes_it():
    question = "sync keelson roles from LDAP groups"
    assert not is_weak(retrieval(question, mention="ldap"), SETTINGS)  # any case, any candidate
    assert not is_weak(retrieval(question, mention="LDAP-based login"), SETTINGS)
    assert is_weak(retrieval(question, mention="OpenLDAP"), SETTINGS)
    assert not is_weak(retrieval(question), SETTINGS.updated(unknown_name_weak=False))
    named = replace(retrieval(question), dense=[replace(ROLES, doc="admin/ldap.md"),
                                                *retrieval(question).dense[1:]])  # fmt: skip
    assert not is_weak(named, SETTINGS)  # the document's name mentions it
    plural = "How many webhook URLs can one workspace register?"
    assert not is_weak(retrieval(plural, mention="one URL per hook"), SETTINGS)
    assert is_weak(retrieval(plural), SETTINGS)
