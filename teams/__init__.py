"""Teams: who is asking (`User`, `Identities`), what they may change (`Admin`, the one admin
service) and the record of it (`AuditLog`).

    from teams import Admin, AuditLog, Identities
    alice = Identities(settings).user("alice@example.com")
    admin = Admin(store, encoders, settings, AuditLog.from_settings(settings))
    admin.grant(alice, "docs/hr/bands.md", "legal")
    # -> ('hr', 'legal')

It sits above the write path (`retrieval.ingest`) and below the assistant.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from teams.admin import Admin
    from teams.audit import AuditLog
    from teams.errors import (
        AuditUnavailableError,
        GroupsFileError,
        NotAllowedError,
        SignInRefusedError,
        TeamError,
        UnsafeBindError,
    )
    from teams.identity import Identities, User

# Lazy re-exports (PEP 562), as in `retrieval`: `from teams.identity import User` should not load
# the store and the ingest pipeline that the admin service needs.
_EXPORTS = {
    "User": "identity",
    "Identities": "identity",
    "Admin": "admin",
    "AuditLog": "audit",
    **dict.fromkeys(
        (
            "TeamError",
            "UnsafeBindError",
            "GroupsFileError",
            "AuditUnavailableError",
            "NotAllowedError",
            "SignInRefusedError",
        ),
        "errors",
    ),
}
__all__ = [
    "Admin",
    "AuditLog",
    "AuditUnavailableError",
    "GroupsFileError",
    "Identities",
    "NotAllowedError",
    "SignInRefusedError",
    "TeamError",
    "UnsafeBindError",
    "User",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"teams.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'teams' has no attribute {name!r}")
