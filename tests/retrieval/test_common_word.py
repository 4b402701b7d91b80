"""Weak when only a common word matches: known-answer cases for the rule (a retrieval built by
hand, as `Retriever.retrieve` returns it), each changed in one way that must undo it."""

from __future__ import annotations

from dataclasses import replace

from retrieval.refusal import is_weak, words
from retrieval.search import Retrieval
from retrieval.settings import Settings
from retrieval.types import Hit

DOG = "Can I bring my dog to the office?"
OUT_OF_OFFICE = Hit("it/email.md", "Email and calendars > Out of office",
                    "Set an automatic reply in the mail client before you leave the office.",
                    0.48, "top", standing=4.1, lang="en")  # fmt: skip
OTHERS = [f"The {place} office opens at 8:30; visitors sign in at reception." for place in
          ("Rotterdam", "Shenzhen", "Lisbon", "Austin", "Oslo", "Lyon", "Porto")]  # fmt: skip
SETTINGS = Settings(_env_file=None)


def retrieval(query: str = DOG, standout: float = 2.9, gap: float = 0.014, **top) -> Retrieval:
    first = replace(OUT_OF_OFFICE, **top)
    lexical = [first] + [Hit("office.md", "Offices", text, 0.3, f"o{n}", lang="en")
                         for n, text in enumerate(OTHERS)]  # fmt: skip
    dense = [replace(first, score=0.48)] + [
        Hit("x.md", "", f"passage {n}", 0.48 - gap * min(n, 4) / 4 - 0.001 * n, f"d{n}")
        for n in range(1, 25)
    ]
    return Retrieval(query, [first, *lexical[1:3]], dense, lexical, standout=standout)


def test_one_common_word_with_an_ordinary_dense_standing_is_weak():
    assert words(DOG) == {"bring", "dog", "office"}
    assert is_weak(retrieval(), SETTINGS)


def test_each_change_that_undoes_it():
    assert not is_weak(retrieval(standout=3.4), SETTINGS)  # stands out among the dense
    assert not is_weak(retrieval(gap=0.12), SETTINGS)  # clear of the fifth dense candidate
    assert not is_weak(retrieval(lang="zh"), SETTINGS)  # across languages: one name is all
    rare = retrieval("Can I bring my dog to the Out of office reply?")  # two words shared
    assert not is_weak(rare, SETTINGS)
    assert not is_weak(retrieval(), SETTINGS.updated(common_word_share=0))  # 0 = never
    few = retrieval()
    few = replace(few, lexical=[few.lexical[0]] + [replace(h, text="Lunch is at noon.")
                                                   for h in few.lexical[1:]])  # fmt: skip
    assert not is_weak(few, SETTINGS)  # the word is rare among BM25's candidates
