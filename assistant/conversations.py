"""Saved conversations: every turn of the chat, kept in a SQLite database (stdlib `sqlite3`).

One file (`MSRAG_CONVERSATIONS_DB`, default `<MSRAG_DATA_DIR>/conversations.db`) in WAL mode, so
the browser chat, `msrag chat --resume` and a backup copy can read while another process writes.
A turn keeps what the page showed: the question, the answer text, the sources exactly as shown
(number, source, location, passage text, score, the sentences that cited them), the mode, top-k,
model, per-stage timings, whether it was extractive / refused / cut short, and a hash of the
prompt that was sent. Feedback (👍/👎 and a comment) is kept per turn.

The schema is versioned with `PRAGMA user_version`; migrations run on open, inside a transaction,
and a file from a newer version is refused (never rewritten). Nothing here ever deletes or
replaces a database it cannot read: faults become `HistoryError`s whose message is one sentence
saying what is wrong and what to do, and the chat keeps answering without history.

Rows carry a `user_id` (default `'local'`, the operator: the command line and the page in
`MSRAG_AUTH=none`): a store opened for one user sees only that user's conversations and feedback.
The page opens it with `User.key`, which is namespaced by sign-in mode (`header:bob@…`,
`oidc:…`), so a signed-in user can never share the operator's `local`.

    store = ConversationStore(Path("/tmp/c.db"))
    turn = store.add_turn(None, answer, top_k=5, model_label="extractive")
    [c.title for c in store.conversations()]
    # -> ['When was Ada Lovelace born?']
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from assistant.errors import AssistantError
from assistant.types import Answer, Source, Timings
from retrieval.errors import EXIT_UPSTREAM, EXIT_USAGE
from retrieval.types import Passage
from teams.audit import file_identity

SCHEMA_VERSION = 1
TITLE_CHARS = 80  # a title made from the first question is cut here (an edited one is kept whole)
LOCAL_USER = "local"

Rating = Literal["up", "down"]
_T = TypeVar("_T")

# Each entry brings the schema from version i to i + 1. Only ever append.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        user_id TEXT NOT NULL DEFAULT 'local',
        title TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX conversations_by_user ON conversations (user_id, updated_at DESC);
    CREATE TABLE turns (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        question TEXT NOT NULL,
        standalone_question TEXT NOT NULL,
        answer TEXT NOT NULL,
        sources TEXT NOT NULL,          -- JSON: every source shown, each with a "cited" flag
        omitted TEXT NOT NULL,          -- JSON: passages retrieved but not sent (shown on refusal)
        mode TEXT NOT NULL,
        top_k INTEGER,
        model TEXT,                     -- the LLM model name, NULL when extractive
        model_label TEXT NOT NULL,      -- what the page showed ('gpt-4o-mini at …', 'no LLM — …')
        timings TEXT NOT NULL,          -- JSON: Timings
        extractive INTEGER NOT NULL,
        refused INTEGER NOT NULL,
        partial INTEGER NOT NULL,
        error TEXT,
        error_kind TEXT,
        invalid_citations TEXT NOT NULL,
        top_score REAL,
        threshold REAL,
        prompt_hash TEXT NOT NULL,      -- sha256 of the condense + answer messages sent
        created_at TEXT NOT NULL,
        UNIQUE (conversation_id, position)
    );
    CREATE TABLE feedback (
        turn_id INTEGER PRIMARY KEY REFERENCES turns (id) ON DELETE CASCADE,
        user_id TEXT NOT NULL DEFAULT 'local',
        rating TEXT CHECK (rating IN ('up', 'down')),
        comment TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL
    );
    CREATE INDEX feedback_by_rating ON feedback (user_id, rating, updated_at);
    """,
)
assert len(_MIGRATIONS) == SCHEMA_VERSION


@dataclass(frozen=True)
class RatedTurn:
    """A rated turn of any user: whose it is (their key), the turn, the turns before it."""

    user_id: str
    turn: Turn
    earlier: list[Turn]


class HistoryError(AssistantError):
    """The conversation history cannot be read or written; the message says why and what to do.

    The chat keeps answering without history when this is raised.
    """

    exit_code = EXIT_UPSTREAM  # the database file, like a store, is something we depend on


class HistoryArgumentError(HistoryError, ValueError):
    """A request the history cannot satisfy as asked: an unknown id, an empty title."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created_at: str  # ISO 8601, UTC
    updated_at: str
    turns: int = 0


@dataclass(frozen=True)
class Feedback:
    rating: Rating | None
    comment: str = ""
    updated_at: str = ""


@dataclass(frozen=True)
class Turn:
    """One stored question and answer (the `Answer` rebuilt with everything the page draws)."""

    id: int
    conversation_id: int
    position: int  # 1, 2, … within the conversation
    answer: Answer
    top_k: int | None
    model_label: str
    prompt_hash: str
    created_at: str
    feedback: Feedback | None = None

    @property
    def question(self) -> str:
        return self.answer.question


def prompt_hash(answer: Answer) -> str:
    """sha256 of the messages sent for this turn (condense request, then answer request)."""
    sent = {"condense": answer.condense_messages, "answer": answer.messages}
    return hashlib.sha256(json.dumps(sent, sort_keys=True).encode()).hexdigest()


def title_from(question: str) -> str:
    """A conversation title from its first question: one line, at most `TITLE_CHARS`."""
    line = " ".join(question.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


class ConversationStore:
    """The conversations of one user in the SQLite file at `path` (created on first open).

    Raises `HistoryError` when the file cannot be used: not a database (corrupt), written by a
    newer version, locked by another process beyond `timeout` seconds, read-only (on a write),
    or in a folder that cannot be created. The file is never modified in those cases.
    """

    def __init__(self, path: Path, *, user_id: str = LOCAL_USER, timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.user_id = user_id
        self._lock = threading.RLock()  # one connection, shared by the page's threads
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(
                f"The folder for the conversation history {self.path.parent} cannot be created "
                f"({exc.strerror or exc}): fix its permissions or set MSRAG_CONVERSATIONS_DB."
            ) from exc
        try:
            self._db = sqlite3.connect(
                self.path, timeout=timeout, check_same_thread=False, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise self._translate(exc, "opened") from exc
        try:
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except HistoryError:
            self._db.close()
            raise
        except sqlite3.Error as exc:
            self._db.close()
            raise self._translate(exc, "opened") from exc
        self._identity = file_identity(self.path)
        self._adopt_legacy_rows()

    def _adopt_legacy_rows(self) -> None:
        """Give a signed-in user (`header:bob@…`) the rows saved under their bare name before
        owners were namespaced by sign-in mode. Only header and oidc users were ever saved bare
        (the operator is `local`), so the bare name can only be theirs. Best effort: a read-only
        file keeps its rows where they are."""
        realm, sep, name = self.user_id.partition(":")
        if not sep or not name or name == LOCAL_USER:
            return
        try:
            with self._lock:
                for table in ("conversations", "feedback"):
                    self._db.execute(
                        f"UPDATE {table} SET user_id = ? WHERE user_id = ?", (self.user_id, name)
                    )
        except sqlite3.Error:
            pass

    def is_current(self) -> bool:
        """False when the file was deleted or replaced since it was opened (writes would go to
        a file nobody sees): reopen the store then."""
        return self._identity is not None and file_identity(self.path) == self._identity

    # --- schema --------------------------------------------------------------------------
    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise HistoryError(
                f"The conversation history {self.path} was written by a newer msrag (schema "
                f"{version}, this one reads up to {SCHEMA_VERSION}): upgrade msrag, or set "
                "MSRAG_CONVERSATIONS_DB to another file; it was left untouched."
            )
        if version < SCHEMA_VERSION:
            # WAL before the first write; a read-only file keeps whatever mode it has.
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                # Re-read under the write lock: another process may have migrated meanwhile.
                version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
                for step in range(version, SCHEMA_VERSION):
                    for statement in _statements(_MIGRATIONS[step]):
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {step + 1}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        else:
            # Reading the schema proves the file is a database; touch nothing else.
            self._db.execute("SELECT count(*) FROM conversations").fetchone()

    def _translate(self, exc: sqlite3.Error, doing: str) -> HistoryError:
        text = str(exc).lower()
        where = f"The conversation history {self.path}"
        if "not a database" in text or "malformed" in text or "disk image" in text:
            return HistoryError(
                f"{where} is not a readable SQLite database (damaged?): move the file aside "
                "(it was left untouched) and reload to start a new history."
            )
        if "locked" in text or "busy" in text:
            return HistoryError(
                f"{where} is locked by another process, so it could not be {doing}: try again "
                "in a moment, or stop the other process."
            )
        if "readonly" in text or "read-only" in text:
            return HistoryError(
                f"{where} is read-only, so new turns are not saved: make the file and its "
                "folder writable, or set MSRAG_CONVERSATIONS_DB to a writable file."
            )
        if "unable to open" in text:
            return HistoryError(
                f"{where} cannot be opened ({exc}): check that its folder exists and is "
                "writable, or set MSRAG_CONVERSATIONS_DB."
            )
        return HistoryError(f"{where} could not be {doing} ({exc}): check the file and its folder.")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._translate(exc, "written") from exc
            try:
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise self._translate(exc, "written") from exc
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _read(self, run: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            try:
                return run(self._db)
            except sqlite3.Error as exc:
                raise self._translate(exc, "read") from exc

    # --- conversations -------------------------------------------------------------------
    def create(self, title: str) -> Conversation:
        now = _now()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO conversations (user_id, title, created_at, updated_at) "
                "VALUES (?, ?, ?, ?)",
                (self.user_id, title, now, now),
            )
        return Conversation(int(cursor.lastrowid or 0), title, now, now, 0)

    def get(self, conversation_id: int) -> Conversation | None:
        rows = self._read(
            lambda db: db.execute(
                _CONVERSATION_SELECT + " WHERE c.id = ? AND c.user_id = ? GROUP BY c.id",
                (conversation_id, self.user_id),
            ).fetchall()
        )
        return _conversation(rows[0]) if rows else None

    def belongs_to_another(self, conversation_id: int) -> bool:
        """Whether `conversation_id` exists but is another user's (for the audit log only: the
        page tells the user the same as for an unknown id)."""
        row = self._read(
            lambda db: db.execute(
                "SELECT 1 FROM conversations WHERE id = ? AND user_id != ?",
                (conversation_id, self.user_id),
            ).fetchone()
        )
        return row is not None

    def conversations(self, search: str = "", limit: int = 200) -> list[Conversation]:
        """Newest first; `search` matches titles and questions (case-insensitive substring)."""
        where = "WHERE c.user_id = ?"
        args: list[Any] = [self.user_id]
        if search.strip():
            pattern = "%" + _like_escape(search.strip()) + "%"
            where += (
                " AND (c.title LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM turns s WHERE "
                "s.conversation_id = c.id AND s.question LIKE ? ESCAPE '\\'))"
            )
            args += [pattern, pattern]
        sql = (
            f"{_CONVERSATION_SELECT} {where} GROUP BY c.id "
            "ORDER BY c.updated_at DESC, c.id DESC LIMIT ?"
        )
        rows = self._read(lambda db: db.execute(sql, (*args, limit)).fetchall())
        return [_conversation(r) for r in rows]

    def rename(self, conversation_id: int, title: str) -> None:
        title = " ".join(title.split())
        if not title:
            raise HistoryArgumentError("A conversation title cannot be empty: type a few words.")
        with self._write() as db:
            db.execute(
                "UPDATE conversations SET title = ? WHERE id = ? AND user_id = ?",
                (title, conversation_id, self.user_id),
            )

    def delete(self, conversation_id: int) -> None:
        """Delete a conversation with its turns and feedback."""
        with self._write() as db:
            db.execute(
                "DELETE FROM conversations WHERE id = ? AND user_id = ?",
                (conversation_id, self.user_id),
            )

    # --- turns ---------------------------------------------------------------------------
    def add_turn(
        self,
        conversation_id: int | None,
        answer: Answer,
        *,
        top_k: int | None,
        model_label: str,
    ) -> Turn:
        """Append a turn; with no `conversation_id`, start a conversation titled by the question."""
        now = _now()
        digest = prompt_hash(answer)
        with self._write() as db:
            if conversation_id is None or not _owned(db, conversation_id, self.user_id):
                cursor = db.execute(
                    "INSERT INTO conversations (user_id, title, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?)",
                    (self.user_id, title_from(answer.question), now, now),
                )
                conversation_id = int(cursor.lastrowid or 0)
            position = 1 + int(
                db.execute(
                    "SELECT coalesce(max(position), 0) FROM turns WHERE conversation_id = ?",
                    (conversation_id,),
                ).fetchone()[0]
            )
            cursor = db.execute(
                "INSERT INTO turns (conversation_id, position, question, standalone_question, "
                "answer, sources, omitted, mode, top_k, model, model_label, timings, extractive, "
                "refused, partial, error, error_kind, invalid_citations, top_score, threshold, "
                "prompt_hash, created_at) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    position,
                    answer.question,
                    answer.standalone_question,
                    answer.text,
                    json.dumps(_sources_json(answer)),
                    json.dumps([_passage_json(p) for p in answer.omitted]),
                    answer.mode,
                    top_k,
                    answer.model,
                    model_label,
                    json.dumps(asdict(answer.timings)),
                    int(answer.extractive),
                    int(answer.refused),
                    int(answer.partial),
                    answer.error,
                    answer.error_kind,
                    json.dumps(answer.invalid_citations),
                    answer.top_score,
                    answer.threshold,
                    digest,
                    now,
                ),
            )
            db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
            )
        return Turn(
            int(cursor.lastrowid or 0),
            conversation_id,
            position,
            answer,
            top_k,
            model_label,
            digest,
            now,
        )

    def turns(self, conversation_id: int) -> list[Turn]:
        """The conversation's turns in order (empty for an unknown id or another user's)."""
        rows = self._read(
            lambda db: db.execute(
                _TURN_SELECT + " WHERE c.id = ? AND c.user_id = ? ORDER BY t.position",
                (conversation_id, self.user_id),
            ).fetchall()
        )
        return [_turn(r) for r in rows]

    def turn(self, turn_id: int) -> Turn | None:
        rows = self._read(
            lambda db: db.execute(
                _TURN_SELECT + " WHERE t.id = ? AND c.user_id = ?", (turn_id, self.user_id)
            ).fetchall()
        )
        return _turn(rows[0]) if rows else None

    # --- feedback ------------------------------------------------------------------------
    def set_feedback(self, turn_id: int, rating: Rating | None, comment: str = "") -> None:
        """Record 👍 ('up') / 👎 ('down') / none and a comment for a turn (replacing earlier)."""
        if rating not in ("up", "down", None):
            raise HistoryArgumentError(f"A rating is 'up', 'down' or none, not {rating!r}.")
        with self._write() as db:
            if not db.execute(
                "SELECT 1 FROM turns t JOIN conversations c ON c.id = t.conversation_id "
                "WHERE t.id = ? AND c.user_id = ?",
                (turn_id, self.user_id),
            ).fetchone():
                raise HistoryArgumentError(f"There is no turn {turn_id} in this history.")
            db.execute(
                "INSERT INTO feedback (turn_id, user_id, rating, comment, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (turn_id) DO UPDATE SET "
                "rating = excluded.rating, comment = excluded.comment, "
                "updated_at = excluded.updated_at",
                (turn_id, self.user_id, rating, comment, _now()),
            )

    def rated(self, rating: Rating, since: datetime | None = None) -> list[Turn]:
        """Every turn given `rating` (at or after `since`), oldest first."""
        sql = _TURN_SELECT + " WHERE c.user_id = ? AND f.rating = ?"
        args: list[Any] = [self.user_id, rating]
        if since is not None:
            sql += " AND f.updated_at >= ?"
            args.append(_iso(since))
        sql += " ORDER BY f.updated_at, t.id"
        rows = self._read(lambda db: db.execute(sql, args).fetchall())
        return [_turn(r) for r in rows]

    def rated_by_everyone(
        self, rating: Rating, since: datetime | None = None, *, user: str | None = None
    ) -> list[RatedTurn]:
        """Every user's turns given `rating` (at or after `since`), oldest first, each with who
        owns it and the turns before it: for the operator (`msrag regress --from-feedback`),
        whatever user this store was opened for. Read-only. `user` keeps one user's: their key
        (`header:alice@x`) or bare name (`alice@x`, in any sign-in mode)."""
        sql = _TURN_SELECT.replace("SELECT ", "SELECT c.user_id AS owner, ", 1)
        sql += " WHERE f.rating = ?"
        args: list[Any] = [rating]
        if since is not None:
            sql += " AND f.updated_at >= ?"
            args.append(_iso(since))
        if user is not None:
            sql += " AND (c.user_id = ? OR c.user_id LIKE ? ESCAPE '\\')"
            args += [user, "%:" + _like_escape(user)]
        sql += " ORDER BY f.updated_at, t.id"

        def read(db: sqlite3.Connection) -> list[RatedTurn]:
            found = []
            for row in db.execute(sql, args).fetchall():
                earlier = db.execute(
                    _TURN_SELECT + " WHERE c.id = ? AND t.position < ? ORDER BY t.position",
                    (row["conversation_id"], row["position"]),
                ).fetchall()
                found.append(RatedTurn(row["owner"], _turn(row), [_turn(r) for r in earlier]))
            return found

        return self._read(read)

    # --- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ConversationStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- rows ⇄ values -------------------------------------------------------------------------------

_CONVERSATION_SELECT = (
    "SELECT c.id, c.title, c.created_at, c.updated_at, count(t.id) AS turns "
    "FROM conversations c LEFT JOIN turns t ON t.conversation_id = c.id"
)
_TURN_SELECT = (
    "SELECT t.*, f.rating AS f_rating, f.comment AS f_comment, f.updated_at AS f_updated_at "
    "FROM turns t JOIN conversations c ON c.id = t.conversation_id "
    "LEFT JOIN feedback f ON f.turn_id = t.id"
)


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(
        int(row["id"]), row["title"], row["created_at"], row["updated_at"], int(row["turns"])
    )


def _turn(row: sqlite3.Row) -> Turn:
    sources = json.loads(row["sources"])
    cited = [_source(s) for s in sources if s.get("cited")]
    uncited = [_source(s) for s in sources if not s.get("cited")]
    answer = Answer(
        question=row["question"],
        standalone_question=row["standalone_question"],
        text=row["answer"],
        sources=cited,
        uncited=uncited,
        omitted=[_passage(p) for p in json.loads(row["omitted"])],
        timings=Timings(**json.loads(row["timings"])),
        mode=row["mode"],
        model=row["model"],
        extractive=bool(row["extractive"]),
        refused=bool(row["refused"]),
        partial=bool(row["partial"]),
        error=row["error"],
        error_kind=row["error_kind"],
        invalid_citations=list(json.loads(row["invalid_citations"])),
        top_score=row["top_score"],
        threshold=row["threshold"],
    )
    feedback = None
    if row["f_updated_at"] is not None:
        feedback = Feedback(row["f_rating"], row["f_comment"] or "", row["f_updated_at"])
    return Turn(
        id=int(row["id"]),
        conversation_id=int(row["conversation_id"]),
        position=int(row["position"]),
        answer=answer,
        top_k=row["top_k"],
        model_label=row["model_label"],
        prompt_hash=row["prompt_hash"],
        created_at=row["created_at"],
        feedback=feedback,
    )


def _sources_json(answer: Answer) -> list[dict[str, Any]]:
    cited = [{**asdict(s), "cited": True} for s in answer.sources]
    uncited = [{**asdict(s), "cited": False} for s in answer.uncited]
    return cited + uncited


def _source(data: dict[str, Any]) -> Source:
    fields = {k: v for k, v in data.items() if k in Source.__dataclass_fields__}
    fields["sentences"] = tuple(fields.get("sentences", ()))
    return Source(**fields)


_PASSAGE_FIELDS = (
    "id", "score", "text", "doc_id", "source", "title", "chunk_index", "char_start", "char_end",
    "page", "heading", "rank", "mode",
)  # fmt: skip


def _passage_json(passage: Passage) -> dict[str, Any]:
    return {name: getattr(passage, name) for name in _PASSAGE_FIELDS}


def _passage(data: dict[str, Any]) -> Passage:
    return Passage(**{k: v for k, v in data.items() if k in _PASSAGE_FIELDS})


def _owned(db: sqlite3.Connection, conversation_id: int, user_id: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM conversations WHERE id = ? AND user_id = ?", (conversation_id, user_id)
    ).fetchone()
    return row is not None


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _now() -> str:
    return _iso(datetime.now(UTC))


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


__all__ = [
    "LOCAL_USER",
    "SCHEMA_VERSION",
    "Conversation",
    "ConversationStore",
    "Feedback",
    "HistoryArgumentError",
    "HistoryError",
    "Turn",
    "prompt_hash",
    "title_from",
]
