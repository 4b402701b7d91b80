"""The dev sets: a folder of docs and a JSON-lines file of questions each (answerable ones name
the gold doc, heading and a verbatim answer snippet; the others have nulls); ours under
`devsets/`, and the held-out ones beside the project, used by path."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from retrieval.tokens import CJK, LATIN_WORD, language

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class DevSet:
    """A folder of docs and the questions asked of it."""

    name: str
    corpus: Path
    questions: Path
    about: str


def _devset(name: str, about: str, corpus: str | None = None) -> DevSet:
    folder = ROOT / "devsets" / name
    return DevSet(
        name, ROOT / corpus if corpus else folder / "docs", folder / "questions.jsonl", about
    )


#: The dev sets, each a different shape of documentation; all written by us.
DEV_SETS: dict[str, DevSet] = {
    s.name: s
    for s in [
        _devset("sample", "the sample docs (a company handbook, IT, on-call)", "docs_corpus"),
        _devset("helpcentre", "FAQ pages: dozens of short ### / #### question entries per file"),
        _devset("helpcentre-2", "FAQ pages of another product, written apart from the first"),
        _devset("reference", "long reference and how-to pages: front matter, code, tables"),
        _devset("zh-ops", "Chinese operations docs with English terms, commands and YAML"),
        _devset("mixed", "a wiki half in English, half in Chinese; cross-language questions"),
        _devset(
            "crossing",
            "ops docs of a job scheduler, each topic in English or in Chinese only; 50 of 110 "
            "answerable questions asked in the other language, in everyday words",
        ),
        _devset(
            "shardingsphere",
            "public Apache ShardingSphere docs, 25 Chinese and 21 English pages; questions in "
            "both languages and across them, written by someone who read only the pages "
            "(Apache-2.0)",
        ),
        _devset(
            "reference-zh",
            "Chinese questions about the English-only pages of `reference` (Chinese > English "
            "over an English-only index), written by someone who read only the pages",
            "devsets/reference/docs",
        ),
        _devset(
            "zh-rocketmq",
            "public Apache RocketMQ docs, Chinese pages with headings only; Chinese questions "
            "and English ones about them, written by someone who read only the pages "
            "(Apache-2.0)",
        ),
        _devset(
            "zh-notes",
            "web-copied Chinese plain-text notes (.txt, no headings: a menu line, a date, a "
            "view counter, a footer of links); Chinese and English questions (Apache-2.0)",
        ),
    ]
}

#: Held-out sets beside the project (`../shared/devsets/`), written by nobody on the team: a
#: check, never a training set. Used by path, never copied; absent from a user's own clone.
SHARED = ROOT.parent / "shared" / "devsets"
HELD_OUT: dict[str, DevSet] = {
    "foreign": DevSet(
        "foreign",
        SHARED / "foreign" / "docs",
        SHARED / "foreign" / "questions.jsonl",
        "public Apache APISIX docs, 25 Chinese and 20 English pages; questions written outside "
        "the team (../shared/devsets/foreign, Apache-2.0)",
    )
}


def all_sets() -> dict[str, DevSet]:
    """Our dev sets, and each held-out set that is present."""
    present = {name: s for name, s in HELD_OUT.items() if s.questions.exists()}
    return {**DEV_SETS, **present}


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    doc: str | None
    heading: str | None
    answer_snippet: str | None
    lang: str = ""

    @property
    def answerable(self) -> bool:
        return self.doc is not None


def load_questions(path: Path) -> list[Question]:
    """Read the JSON-lines question file; a malformed line is an error naming its number."""
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            fields = {k: row.get(k) for k in Question.__annotations__}
            fields["lang"] = fields["lang"] or language(fields["question"])
            questions.append(Question(**fields))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a question record ({exc})") from None
    return questions


def document_language(text: str) -> str:
    """A whole page's language, for grouping questions: 'zh' when CJK characters are a fifth
    of its CJK characters and Latin words (Chinese ops pages are full of English config keys,
    commands and code), else 'en'."""
    cjk, latin = len(CJK.findall(text)), len(LATIN_WORD.findall(text))
    return "zh" if cjk and cjk >= 0.2 * (cjk + latin) else "en"


def chosen(name: str) -> DevSet:
    dev = all_sets().get(name)
    if dev is None:
        raise ValueError(f"the {name} set is not here: expected {HELD_OUT[name].questions}")
    return dev
