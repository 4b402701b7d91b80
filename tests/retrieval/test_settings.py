"""The settings object: defaults, .env.example, validation."""

from pathlib import Path

from retrieval.settings import MODELS, Settings

ROOT = Path(__file__).resolve().parent.parent.parent


def test_env_example_loads_and_matches_defaults(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("RAG_") or name == "DEEPSEEK_API_KEY":
            monkeypatch.delenv(name)
    from_example = Settings(_env_file=ROOT / ".env.example")
    defaults = Settings(_env_file=None)
    assert from_example.model_dump() == defaults.model_dump()


def test_every_field_has_a_description():
    missing = [n for n, f in Settings.model_fields.items() if not f.description]
    assert missing == []


def test_model_entries_and_overrides():
    settings = Settings(_env_file=None, llm="ollama-r1", llm_model_name="deepseek-r1:14b")
    entry = settings.model_entry()
    assert entry.base_url == MODELS["ollama-r1"].base_url and entry.model == "deepseek-r1:14b"
    assert Settings(_env_file=None).model_entry() is None


def test_unknown_model_name_is_rejected():
    import pytest

    with pytest.raises(ValueError, match="unknown model"):
        Settings(_env_file=None, llm="gpt-9")


def test_deepseek_key_read_from_its_usual_variable(monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-from-env")
    assert Settings(_env_file=None).deepseek_api_key.get_secret_value() == "sk-from-env"


def test_fingerprint_changes_with_any_setting_and_hides_secrets():
    base = Settings(_env_file=None)
    assert base.fingerprint() == Settings(_env_file=None).fingerprint()
    for change in ({"top_k": 7}, {"search_mode": "dense"}, {"llm": "deepseek-chat"}):
        assert base.updated(**change).fingerprint() != base.fingerprint(), change
    keyed = base.updated(embedding_api_key="sk-one")
    assert keyed.fingerprint() != base.updated(embedding_api_key="sk-two").fingerprint()
    assert "sk-one" not in keyed.fingerprint()
