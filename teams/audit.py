"""The audit log: who asked what, which documents came back, and who changed the library.

Library changes (upload, delete, reingest, grant, revoke) are recorded by the one admin service,
`teams/admin.py`; questions by `assistant/audited.py` and `msrag search`.

An append-only table `audit` in the conversations' database (`MSRAG_CONVERSATIONS_DB`, default
`MSRAG_DATA_DIR/conversations.db`), its own table. SQLite triggers reject UPDATE and DELETE, so a
bug or a curious admin with the app cannot rewrite history through it; only someone with the
file itself can.

Writing an entry never stops the action it records: a damaged or read-only database file (the
conversations' own fault handling says so on the page) costs the entry, which is logged as a
warning, not the user's answer. Reading the log turns such a fault into `AuditUnavailableError`.

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
from typing import Literal

from teams.errors import AuditUnavailableError
from teams.settings import TeamSettings

log = logging.getLogger("msrag.audit")

Action = Literal[
    "ask", "search", "upload", "delete", "reingest", "grant", "revoke", "sign-in", "denied"
]
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
        self._ready = False

    @classmethod
    def from_settings(cls, settings: TeamSettings) -> AuditLog:
        return cls(settings.conversations_path)

    def _connect(self) -> sqlite3.Connection:
        # A connection per call: Streamlit runs each session on its own thread. The table is
        # created on first use, so opening the log never fails.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10)
        if not self._ready:
            db.executescript(_SCHEMA)
            self._ready = True
        return db

    def record(
        self,
        user: str,
        action: Action,
        detail: str,
        *,
        doc_ids: Sequence[str] = (),
        groups: Sequence[str] | None = None,
    ) -> None:
        row = (
            datetime.now(UTC).isoformat(timespec="milliseconds"),
            user,
            action,
            detail,
            json.dumps(list(dict.fromkeys(doc_ids))),
            json.dumps(["*"] if groups is None else list(groups)),  # * = unrestricted
        )
        try:
            with self._lock:
                db = self._connect()
                try:
                    with db:
                        db.execute(
                            "INSERT INTO audit (at, user, action, detail, doc_ids, groups) "
                            "VALUES (?, ?, ?, ?, ?, ?)",
                            row,
                        )
                finally:
                    db.close()
        except (sqlite3.Error, OSError) as exc:
            log.warning("audit entry not written to %s (%s): %s %s", self.path, exc, user, action)

    def entries(self, *, user: str | None = None, limit: int = 200) -> list[AuditEntry]:
        """Newest first; only `user`'s when given."""
        query = "SELECT id, at, user, action, detail, doc_ids, groups FROM audit"
        args: tuple[object, ...] = ()
        if user is not None:
            query += " WHERE user = ?"
            args = (user,)
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
