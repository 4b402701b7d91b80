"""One hint for setting up a model, pointing at one place: the README's "Written answers"."""

from __future__ import annotations

from app.i18n import STRINGS
from prompts.templates import MODEL_HELP, MODEL_HELP_ZH, NO_MODEL_NOTICE, NO_MODEL_NOTICE_ZH
from tests.conftest import ROOT


def test_the_sidebar_and_the_answer_name_the_same_readme_section():
    assert "## Written answers\n" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert MODEL_HELP in NO_MODEL_NOTICE and MODEL_HELP in STRINGS["en"]["no_model"]
    assert MODEL_HELP_ZH in NO_MODEL_NOTICE_ZH and MODEL_HELP_ZH in STRINGS["zh"]["no_model"]
    for hint in [NO_MODEL_NOTICE, NO_MODEL_NOTICE_ZH, STRINGS["en"]["no_model"]]:
        assert ".env.example" not in hint and "RAG_LLM" not in hint  # no second place
