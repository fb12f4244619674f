"""The team layer's errors: sign-in, groups, the audit log and the admin service's rights."""

from __future__ import annotations

from typing import Literal

from retrieval.errors import MsragError


class TeamError(MsragError):
    """Base of the team layer's errors."""


class UnsafeBindError(TeamError):
    """Header mode on an address the proxy does not stand in front of."""


class GroupsFileError(TeamError):
    """The groups file is missing or not a mapping of users to groups."""


class AuditUnavailableError(TeamError):
    """The audit table cannot be read (a damaged or unreadable database file)."""


class NotAllowedError(TeamError):
    """The caller may not make this change to the library (not an admin; `teams/admin.py`)."""


class LastGroupError(TeamError):
    """Revoking a document's last group would make it public without `--public` saying so."""


class SignInRefusedError(TeamError):
    """A sign-in the page refuses: no identity, a repeated identity header, a reserved or
    malformed name. The message is the reason (for the audit log); `claimed` the name sent."""

    def __init__(
        self,
        reason: str,
        claimed: str = "",
        kind: Literal["missing", "repeated", "invalid", "reserved"] = "invalid",
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.claimed = claimed
        self.kind = kind
