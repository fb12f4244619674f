"""The audit log: who asked what, which documents came back, and who changed the library.

Library changes (upload, delete, reingest, grant, revoke) are recorded by the one admin service,
`teams/admin.py`; questions by `assistant/audited.py` and `msrag search`.

An append-only table `audit` in the conversations' database (`MSRAG_CONVERSATIONS_DB`, default
`MSRAG_DATA_DIR/conversations.db`), its own table. SQLite triggers reject UPDATE and DELETE, so a
bug or a curious admin with the app cannot rewrite history through it; only someone with the
file itself can.

The table is (re-)created whenever the file at `path` is not the one it was last made in: a
history database moved aside or replaced while the page runs gets a new table on the next entry,
not "no such table" until a restart.

Writing a question's entry never stops the answer: a damaged or read-only database file (the
conversations' own fault handling says so on the page) costs the entry, which is logged as a
warning. Library changes fail closed instead: the admin service checks the log can be written
(`require_writable`) before it changes anything and writes its entry with `strict=True`, which
raises `AuditUnavailableError`. Reading the log turns a fault into `AuditUnavailableError` too.

Refusals are recorded as well: action `denied` (an admin action by a non-admin, another user's
conversation link, a refused sign-in; the detail says what and why).

    log = AuditLog.from_settings(settings)
    log.record("bob@example.com", "ask", "Holidays?", doc_ids=["d1"])
    [e.action for e in log.entries(user="bob@example.com")]  # -> ['ask']
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args

from teams.errors import AuditUnavailableError
from teams.settings import TeamSettings

log = logging.getLogger("msrag.audit")

Action = Literal[
    "ask", "search", "upload", "delete", "reingest", "grant", "revoke", "sign-in", "denied"
]
ACTIONS: tuple[str, ...] = get_args(Action)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    doc_ids TEXT NOT NULL,
    groups TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_user ON audit(user, id);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str  # UTC, ISO 8601
    user: str
    action: str
    detail: str  # the question, or the document source acted on
    doc_ids: tuple[str, ...]  # documents returned (ask/search) or changed
    groups: tuple[str, ...]  # the caller's groups (ask/search) or the document's (the changes)


class AuditLog:
    """Append and read audit entries in the SQLite file at `path` (created on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        # The file (device, inode) the table was last made in: another file at `path` (the
        # database moved aside, replaced or deleted) gets the table again.
        self._ready: tuple[int, int] | None = None

    @classmethod
    def from_settings(cls, settings: TeamSettings) -> AuditLog:
        return cls(settings.conversations_path)

    def _connect(self) -> sqlite3.Connection:
        # A connection per call: Streamlit runs each session on its own thread. The table is
        # created on first use, so opening the log never fails.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10)
        try:
            if self._ready is None or file_identity(self.path) != self._ready:
                self._ensure(db)
        except BaseException:
            db.close()
            raise
        return db

    def _ensure(self, db: sqlite3.Connection) -> None:
        db.executescript(_SCHEMA)
        self._ready = file_identity(self.path)

    def require_writable(self) -> None:
        """Raise `AuditUnavailableError` unless an entry can be written now (the table exists
        or is made, the file takes a write lock). Nothing is written."""
        try:
            with self._lock:
                db = self._connect()
                try:
                    db.execute("BEGIN IMMEDIATE")
                    db.execute("SELECT count(*) FROM audit WHERE id < 0").fetchone()
                    db.execute("ROLLBACK")
                finally:
                    db.close()
        except (sqlite3.Error, OSError) as exc:
            raise AuditUnavailableError(self._unwritable(exc)) from exc

    def record(
        self,
        user: str,
        action: Action,
        detail: str,
        *,
        doc_ids: Sequence[str] = (),
        groups: Sequence[str] | None = None,
        strict: bool = False,
    ) -> None:
        """Append one entry. A fault is logged as a warning, or with `strict` raised as
        `AuditUnavailableError` (the admin service: no unrecorded change)."""
        row = (
            datetime.now(UTC).isoformat(timespec="milliseconds"),
            user,
            action,
            detail,
            json.dumps(list(dict.fromkeys(doc_ids))),
            json.dumps(["*"] if groups is None else list(groups)),  # * = unrestricted
        )
        insert = (
            "INSERT INTO audit (at, user, action, detail, doc_ids, groups) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        )
        try:
            with self._lock:
                db = self._connect()
                try:
                    try:
                        with db:
                            db.execute(insert, row)
                    except sqlite3.OperationalError as exc:
                        if "no such table" not in str(exc):
                            raise
                        self._ensure(db)  # the table went away under the same file: again
                        with db:
                            db.execute(insert, row)
                finally:
                    db.close()
        except (sqlite3.Error, OSError) as exc:
            if strict:
                raise AuditUnavailableError(self._unwritable(exc)) from exc
            log.warning("audit entry not written to %s (%s): %s %s", self.path, exc, user, action)

    def _unwritable(self, exc: BaseException) -> str:
        return (
            f"The audit log in {self.path} cannot be written ({exc}), and a change to the "
            "library is never made unrecorded: fix the file (it is the conversations' database, "
            "MSRAG_CONVERSATIONS_DB) and try again."
        )

    def entries(
        self, *, user: str | None = None, action: str | None = None, limit: int = 200
    ) -> list[AuditEntry]:
        """Newest first; only `user`'s and only `action` entries when given."""
        query = "SELECT id, at, user, action, detail, doc_ids, groups FROM audit"
        where: list[str] = []
        args: tuple[object, ...] = ()
        if user is not None:
            where.append("user = ?")
            args += (user,)
        if action is not None:
            where.append("action = ?")
            args += (action,)
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY id DESC LIMIT ?"
        try:
            db = self._connect()
            try:
                rows = db.execute(query, (*args, limit)).fetchall()
            finally:
                db.close()
        except (sqlite3.Error, OSError) as exc:
            raise AuditUnavailableError(
                f"The audit log in {self.path} cannot be read ({exc}): check the file (it is "
                "the conversations' database, MSRAG_CONVERSATIONS_DB)."
            ) from exc
        return [
            AuditEntry(
                id=r[0],
                at=r[1],
                user=r[2],
                action=r[3],
                detail=r[4],
                doc_ids=tuple(json.loads(r[5])),
                groups=tuple(json.loads(r[6])),
            )
            for r in rows
        ]


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, or None when there is none: tells a database file
    replaced or moved aside under a running app from the one it opened."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino
