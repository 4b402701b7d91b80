"""Conversations that last, and the feedback on their answers: one SQLite file beside the index.

Every read and write names the user, and a conversation is found only through its owner, so a
user never sees another's chats. The schema is versioned (`PRAGMA user_version`) and migrated
forward when the store opens. Each call opens its own short connection (WAL, busy timeout), so
two tabs of one user, or two app processes, can write at once. Deleting a chat removes its rows
with `secure_delete` on and truncates the write-ahead log, so its text is gone from disk. The
file and its journals are readable by their owner only (SQLite gives the journals the file's mode).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from retrieval.answer import Answer, Source
from retrieval.errors import UserError
from retrieval.private import owner_only_file
from retrieval.tokens import language

TITLE_CHARS = 60

MIGRATIONS = [
    # 1: conversations and their messages
    """
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY, user TEXT NOT NULL, title TEXT NOT NULL,
        created REAL NOT NULL, updated REAL NOT NULL);
    CREATE INDEX conversations_by_user ON conversations (user, updated DESC);
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        question TEXT NOT NULL, answer_text TEXT NOT NULL, record TEXT NOT NULL,
        model TEXT NOT NULL, status TEXT NOT NULL, created REAL NOT NULL);
    CREATE INDEX messages_by_conversation ON messages (conversation, id);
    """,
    # 2: the index version an answer came from, and feedback on answers
    """
    ALTER TABLE messages ADD COLUMN index_version INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        message INTEGER REFERENCES messages (id) ON DELETE SET NULL,
        user TEXT NOT NULL, thumbs INTEGER NOT NULL, comment TEXT NOT NULL,
        right_source TEXT, question TEXT NOT NULL, answer TEXT NOT NULL, sources TEXT NOT NULL,
        model TEXT NOT NULL, index_version INTEGER NOT NULL, created REAL NOT NULL,
        UNIQUE (message, user));
    CREATE INDEX feedback_by_time ON feedback (thumbs, created DESC);
    """,
    # 3: the knowledge bases a conversation searches (JSON list; empty: all)
    """
    ALTER TABLE conversations ADD COLUMN knowledge TEXT NOT NULL DEFAULT '[]';
    """,
    # 4: answers by time (the gap report), and the eval questions admins make from its gaps
    """
    CREATE INDEX messages_by_time ON messages (created);
    CREATE TABLE gap_questions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, question TEXT NOT NULL UNIQUE,
        doc TEXT, heading TEXT, lang TEXT NOT NULL, comment TEXT NOT NULL,
        admin TEXT NOT NULL, created REAL NOT NULL);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
NO_SOURCE = "none"  # the "the docs do not answer this" pick


class ChatStoreError(UserError):
    """The chat history cannot be read or written; the chat itself still answers."""


@dataclass(frozen=True)
class Conversation:
    id: str
    title: str
    created: float
    updated: float
    knowledge: tuple[str, ...] = ()  # the knowledge bases it searches (empty: all)


#: The chat list's date groups, newest first: last activity today, yesterday, in the 7 days
#: before today, or earlier (local days, as the user sees the date).
DateGroup = Literal["today", "yesterday", "week", "older"]


def date_group(updated: float, today: date) -> DateGroup:
    """Which group a chat last active at `updated` falls in, seen on `today`."""
    days = (today - datetime.fromtimestamp(updated).date()).days
    if days <= 0:
        return "today"
    return "yesterday" if days == 1 else "week" if days < 7 else "older"


DATE_GROUPS: tuple[DateGroup, ...] = ("today", "yesterday", "week", "older")


def by_date(
    chats: Sequence[Conversation], today: date
) -> list[tuple[DateGroup, list[Conversation]]]:
    """The chats under their date groups, newest group first, each in the order given; empty
    groups left out."""
    groups: dict[DateGroup, list[Conversation]] = {}
    for chat in chats:
        groups.setdefault(date_group(chat.updated, today), []).append(chat)
    return [(name, groups[name]) for name in DATE_GROUPS if name in groups]


@dataclass(frozen=True)
class Message:
    """One stored exchange: the question and the whole answer as it was shown."""

    id: int
    question: str
    answer: Answer
    created: float
    index_version: int = 0


@dataclass(frozen=True)
class Feedback:
    """A thumbs up or down on an answer, with what the admin needs to act on it."""

    id: int
    user: str
    thumbs: Literal[0, 1]  # 1 = up
    comment: str
    right_source: str | None  # "doc › heading" of the source the user picked, or NO_SOURCE
    question: str
    answer: str
    sources: list[dict]
    model: str
    index_version: int
    created: float


@dataclass(frozen=True)
class Flagged:
    """A question the docs may fall short on: its answer was refused or weakly matched, or its
    asker picked "none of these" (a deleted chat leaves only its feedback's copy)."""

    message: int | None  # None: the chat is gone, its feedback stays
    user: str
    question: str
    created: float
    answer: Answer
    none_of_these: bool


@dataclass(frozen=True)
class GapQuestion:
    """An eval question an admin made from a gap: the page that now answers it (doc None:
    the docs should not answer it)."""

    id: int
    question: str
    doc: str | None
    heading: str | None
    lang: str
    comment: str
    admin: str
    created: float


class ChatStore:
    """Conversations and feedback of every user, in one SQLite file."""

    def __init__(self, path: Path, timeout_s: float = 5.0):
        self.path, self.timeout_s = path, timeout_s
        self._private()
        self.migrate()

    def _private(self) -> None:
        """The database and any journals it has are 0600 before SQLite opens them."""
        try:
            for suffix in ("", "-wal", "-shm"):
                journal = self.path.with_name(self.path.name + suffix)
                if not suffix or journal.exists():
                    owner_only_file(journal)
        except OSError as exc:
            raise self._error(exc) from exc

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            raise self._error(exc) from exc
        try:
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA secure_delete = ON")
            yield db
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        finally:
            db.close()

    def _error(self, exc: Exception) -> ChatStoreError:
        what = "is busy (another process holds it)" if "locked" in str(exc) else f"failed ({exc})"
        return ChatStoreError(
            f"the chat history {self.path} {what}; answers still work but are not saved. "
            "If the file is damaged, move it aside and a new one is started."
        )

    def migrate(self) -> None:
        """Bring the file to this code's schema, one step at a time, each step atomic."""
        with self._db() as db:
            db.execute("PRAGMA journal_mode = WAL")
            current = db.execute("PRAGMA user_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise ChatStoreError(
                    f"the chat history {self.path} has schema {current}, newer than this "
                    f"version of the app understands ({SCHEMA_VERSION}); upgrade the app"
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                db.execute("BEGIN IMMEDIATE")
                for statement in _statements(MIGRATIONS[version - 1]):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {version}")
                db.execute("COMMIT")

    def schema_version(self) -> int:
        with self._db() as db:
            return db.execute("PRAGMA user_version").fetchone()[0]

    # --- conversations ----------------------------------------------------------------------

    def create(
        self, user: str, first_question: str, knowledge: tuple[str, ...] = ()
    ) -> Conversation:
        now = time.time()
        conversation = Conversation(
            secrets.token_urlsafe(12), title_for(first_question), now, now, tuple(knowledge)
        )
        with self._db() as db:
            db.execute(
                "INSERT INTO conversations (id, user, title, created, updated, knowledge) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (conversation.id, user, conversation.title, now, now, json.dumps(knowledge)),
            )
        return conversation

    def set_knowledge(self, user: str, conversation_id: str, knowledge: tuple[str, ...]) -> bool:
        """Point the user's conversation (its follow-ups) at these knowledge bases."""
        with self._db() as db:
            changed = db.execute(
                "UPDATE conversations SET knowledge = ? WHERE id = ? AND user = ?",
                (json.dumps(sorted(knowledge)), conversation_id, user),
            ).rowcount
        return changed == 1

    def conversations(self, user: str, search: str = "", limit: int = 500) -> list[Conversation]:
        """The user's chats, newest first; `search` matches titles, questions and answers."""
        query = f"SELECT {_CONVERSATION} FROM conversations WHERE user = ?"
        params: list[object] = [user]
        if search.strip():
            like = f"%{_escape_like(search.strip())}%"
            query += (
                " AND (title LIKE ? ESCAPE '\\' OR id IN (SELECT conversation FROM messages "
                "WHERE question LIKE ? ESCAPE '\\' OR answer_text LIKE ? ESCAPE '\\'))"
            )
            params += [like, like, like]
        query += " ORDER BY updated DESC LIMIT ?"
        with self._db() as db:
            rows = db.execute(query, [*params, limit]).fetchall()
        return [_conversation(row) for row in rows]

    def get(self, user: str, conversation_id: str) -> Conversation | None:
        """The conversation if it exists and is this user's (a deleted one and another user's
        look the same: None)."""
        with self._db() as db:
            row = db.execute(
                f"SELECT {_CONVERSATION} FROM conversations WHERE id = ? AND user = ?",
                (conversation_id, user),
            ).fetchone()
        return _conversation(row) if row else None

    def rename(self, user: str, conversation_id: str, title: str) -> bool:
        title = title_for(title)
        if not title:
            return False
        with self._db() as db:
            changed = db.execute(
                "UPDATE conversations SET title = ? WHERE id = ? AND user = ?",
                (title, conversation_id, user),
            ).rowcount
        return changed == 1

    def delete(self, user: str, conversation_id: str) -> bool:
        """Delete a chat and its messages, overwriting them on disk (feedback given on its
        answers stays with the admin, who was sent it)."""
        with self._db() as db:
            deleted = db.execute(
                "DELETE FROM conversations WHERE id = ? AND user = ?", (conversation_id, user)
            ).rowcount
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return deleted == 1

    # --- messages ---------------------------------------------------------------------------

    def add_message(
        self,
        user: str,
        conversation_id: str,
        question: str,
        answer: Answer,
        index_version: int = 0,
    ) -> int:
        """Store one exchange; returns its id (ChatStoreError if the chat is not the user's)."""
        now = time.time()
        record = json.dumps(answer.to_record(), ensure_ascii=False)
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            owned = db.execute(
                "UPDATE conversations SET updated = ? WHERE id = ? AND user = ?",
                (now, conversation_id, user),
            ).rowcount
            if owned != 1:
                db.execute("ROLLBACK")
                raise ChatStoreError("that conversation no longer exists")
            cursor = db.execute(
                "INSERT INTO messages (conversation, question, answer_text, record, model, "
                "status, created, index_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, question, answer.answer, record, answer.model,
                 answer.status, now, index_version),
            )  # fmt: skip
            db.execute("COMMIT")
        return int(cursor.lastrowid or 0)

    def messages(self, user: str, conversation_id: str) -> list[Message]:
        with self._db() as db:
            rows = db.execute(
                "SELECT m.id, m.question, m.record, m.created, m.index_version FROM messages m "
                "JOIN conversations c ON c.id = m.conversation "
                "WHERE c.id = ? AND c.user = ? ORDER BY m.id",
                (conversation_id, user),
            ).fetchall()
        return [
            Message(id, question, Answer.from_record(json.loads(record)), created, version)
            for id, question, record, created, version in rows
        ]

    def drop_message(self, user: str, message_id: int) -> bool:
        """Remove one exchange of the user's (regenerate and edit-and-resend replace the last)."""
        with self._db() as db:
            return (
                db.execute(
                    "DELETE FROM messages WHERE id = ? AND conversation IN "
                    "(SELECT id FROM conversations WHERE user = ?)",
                    (message_id, user),
                ).rowcount
                == 1
            )

    # --- feedback ---------------------------------------------------------------------------

    def give_feedback(
        self,
        user: str,
        message_id: int,
        thumbs: int,
        comment: str = "",
        right_source: str | None = None,
    ) -> int:
        """Record (or change) the user's feedback on one of their answers, with a copy of the
        question, answer, sources and model, so it stays meaningful if the chat is deleted."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT m.question, m.record, m.index_version FROM messages m "
                "JOIN conversations c ON c.id = m.conversation WHERE m.id = ? AND c.user = ?",
                (message_id, user),
            ).fetchone()
            if row is None:
                db.execute("ROLLBACK")
                raise ChatStoreError("that answer no longer exists")
            answer = Answer.from_record(json.loads(row[1]))
            sources = json.dumps([_source_summary(s) for s in answer.sources], ensure_ascii=False)
            cursor = db.execute(
                "INSERT INTO feedback (message, user, thumbs, comment, right_source, question, "
                "answer, sources, model, index_version, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message, user) DO UPDATE "
                "SET thumbs = excluded.thumbs, comment = excluded.comment, "
                "right_source = excluded.right_source, created = excluded.created",
                (message_id, user, 1 if thumbs else 0, comment, right_source, row[0],
                 answer.answer, sources, answer.model, row[2], time.time()),
            )  # fmt: skip
            db.execute("COMMIT")
        return int(cursor.lastrowid or 0)

    def feedback_on(self, user: str, message_id: int) -> Feedback | None:
        """This user's feedback on one answer, if any."""
        found = self._feedback("WHERE message = ? AND user = ?", (message_id, user))
        return found[0] if found else None

    def feedback(self, only_down: bool = False, limit: int = 1_000) -> list[Feedback]:
        """Everybody's feedback, newest first (the admin's page and the export)."""
        where = "WHERE thumbs = 0" if only_down else ""
        return self._feedback(f"{where} ORDER BY created DESC LIMIT ?", (limit,))

    def _feedback(self, clause: str, params: tuple) -> list[Feedback]:
        with self._db() as db:
            rows = db.execute(
                "SELECT id, user, thumbs, comment, right_source, question, answer, sources, "
                f"model, index_version, created FROM feedback {clause}",
                params,
            ).fetchall()
        return [Feedback(*row[:7], json.loads(row[7]), *row[8:]) for row in rows]

    # --- the gap report ---------------------------------------------------------------------

    def gap_candidates(self, since: float, until: float) -> list[Flagged]:
        """Every user's questions asked in [since, until) whose answer was refused or weak, or
        marked "none of these" (one per message), oldest first."""
        with self._db() as db:
            rows = db.execute(_FLAGGED, (NO_SOURCE, since, until)).fetchall()
            orphans = db.execute(_FLAGGED_ORPHANS, (NO_SOURCE, since, until)).fetchall()
        found = [
            Flagged(id, user, question, created, Answer.from_record(json.loads(record)), bool(none))
            for id, user, question, created, record, none in rows
        ]
        return sorted(found + [_orphan(*row) for row in orphans], key=lambda f: f.created)

    def keep_gap_question(
        self, admin: str, question: str, doc: str | None, heading: str | None, comment: str
    ) -> GapQuestion:
        """Keep an eval question made from a gap; the same question again replaces it."""
        with self._db() as db:
            db.execute(
                "INSERT INTO gap_questions (question, doc, heading, lang, comment, admin, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (question) DO UPDATE SET "
                "doc = excluded.doc, heading = excluded.heading, comment = excluded.comment, "
                "admin = excluded.admin, created = excluded.created",
                (question, doc, heading, language(question), comment, admin, time.time()),
            )
        return next(q for q in self.gap_questions() if q.question == question)

    def gap_questions(self) -> list[GapQuestion]:
        """The eval questions made from gaps, oldest first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT id, question, doc, heading, lang, comment, admin, created "
                "FROM gap_questions ORDER BY id"
            ).fetchall()
        return [GapQuestion(*row) for row in rows]

    def revision(self) -> tuple:
        """Changes when a message or feedback is added, changed or removed (a cache key)."""
        with self._db() as db:
            return db.execute(
                "SELECT (SELECT count(*) FROM messages), (SELECT max(id) FROM messages), "
                "(SELECT count(*) FROM feedback), (SELECT max(created) FROM feedback)"
            ).fetchone()


_FLAGGED = """
    WITH none_of_these AS (SELECT message FROM feedback WHERE thumbs = 0 AND right_source = ?)
    SELECT m.id, c.user, m.question, m.created, m.record, m.id IN none_of_these
    FROM messages m JOIN conversations c ON c.id = m.conversation
    WHERE m.created >= ? AND m.created < ? AND (m.status = 'refused'
        OR json_extract(m.record, '$.weak_match') = 1 OR m.id IN none_of_these)"""
_FLAGGED_ORPHANS = """
    SELECT user, question, created, answer, sources, model FROM feedback
    WHERE message IS NULL AND thumbs = 0 AND right_source = ? AND created >= ? AND created < ?"""


def _orphan(user: str, question: str, created: float, text: str, sources: str, model: str):
    """A "none of these" whose chat was deleted, from the copy its feedback keeps."""
    kept = [
        Source(s["n"], s["doc"], s["heading"], s["relevance"], "", s.get("cited", False))
        for s in json.loads(sources)
    ]
    return Flagged(None, user, question, created, Answer(text, sources=kept, model=model), True)


_CONVERSATION = "id, title, created, updated, knowledge"


def _conversation(row: tuple) -> Conversation:
    return Conversation(*row[:4], tuple(json.loads(row[4] or "[]")))


def _source_summary(source: Source) -> dict:
    return {"n": source.n, "doc": source.doc, "heading": source.heading,
            "relevance": round(source.relevance, 4), "cited": source.cited}  # fmt: skip


def source_key(doc: str, heading: str) -> str:
    """How a feedback pick names a source."""
    return f"{doc} › {heading}"


def title_for(text: str) -> str:
    """A chat's title: the first line of its first question, at most TITLE_CHARS."""
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]


def regression_questions(items: list[Feedback]) -> tuple[list[dict], int]:
    """Thumbs-down feedback as eval questions (the dev sets' format): a picked source gives
    the gold doc and heading; "the docs do not answer it" gives an unanswerable question.
    Items without a pick cannot say what was right: they are counted, not exported."""
    questions, skipped = [], 0
    for item in items:
        if item.thumbs or not item.right_source:
            skipped += not item.thumbs
            continue
        doc = heading = None
        if item.right_source != NO_SOURCE:
            doc, _, heading = item.right_source.partition(" › ")
        questions.append(
            {
                "id": f"feedback-{item.id}",
                "question": item.question,
                "doc": doc,
                "heading": heading or None,
                "answer_snippet": None,
                "lang": language(item.question),
                "comment": item.comment,
            }  # fmt: skip
        )
    return questions, skipped
