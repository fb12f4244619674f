"""Who is asking: the auth mode's rules, decided once at the edge and handed down as a `User`.

- `none` (default): one local user who sees everything and may change the library (today's
  single-user behaviour).
- `header`: a reverse proxy authenticates and passes the user in `MSRAG_AUTH_HEADER`; a request
  without it is nobody (the page shows "sign-in required" and nothing else). Because anyone who
  can reach the app directly could send that header, `check_bind` refuses a non-loopback address
  unless `MSRAG_TRUSTED_PROXY=true` says only the proxy can reach it.
- `oidc`: Streamlit's `st.login` signs the user in; the page passes their email here.

Groups come from the groups file (`teams.groups_file`); without one, signed-in users are in
no group (public documents only) and nobody is an admin.

    settings = TeamSettings(auth="header", groups_file=None)
    Identities(settings).from_headers({"X-Forwarded-Email": "bob@example.com"})
    # -> User(name='bob@example.com', groups=(), admin=False)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from teams.errors import UnsafeBindError
from teams.groups_file import ADMINS, GroupsDirectory
from teams.settings import TeamSettings

LOCAL_USER = "local"
_MAX_NAME = 320  # the longest valid email address


@dataclass(frozen=True)
class User:
    """Who is asking, in every mode and from every edge (browser, CLI `--as`): name (email in
    header/oidc mode), groups, admin or not. The one user type of the product."""

    name: str
    groups: tuple[str, ...] = ()
    admin: bool = False

    @property
    def access(self) -> tuple[str, ...] | None:
        """What their searches filter on: their groups, or None (everything) for admins."""
        return None if self.admin else self.groups


class Identities:
    """Turns what the edge knows (headers, an OIDC email) into a `User`, per the settings."""

    def __init__(self, settings: TeamSettings) -> None:
        self.settings = settings
        self._directory = GroupsDirectory(settings.groups_file) if settings.groups_file else None

    def user(self, name: str) -> User:
        """The user `name` with their groups from the groups file (re-read when it changes)."""
        name = name.strip().lower()
        if self._directory is None:
            return User(name=name)
        groups = self._directory.groups_of(name)
        return User(name=name, groups=groups, admin=ADMINS in groups)

    def local(self) -> User:
        """`none` mode: the one local user, unrestricted."""
        return User(name=LOCAL_USER, groups=(), admin=True)

    def from_headers(self, headers: Mapping[str, str]) -> User | None:
        """`header` mode: the user the proxy names, or None when the header is absent/blank."""
        wanted = self.settings.auth_header.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
        if value is None:
            return None
        name = value.strip()
        if not name or len(name) > _MAX_NAME or any(ord(c) < 32 for c in name):
            return None
        return self.user(name)


def check_bind(settings: TeamSettings, address: str) -> None:
    """Refuse header mode on a non-loopback address unless the operator vouches for the proxy."""
    if settings.auth != "header" or settings.trusted_proxy or _loopback(address):
        return
    raise UnsafeBindError(
        f"Header sign-in trusts {settings.auth_header} from anyone who can reach {address}: bind "
        "to 127.0.0.1 behind the proxy, or set MSRAG_TRUSTED_PROXY=true if only the proxy can "
        "reach this address."
    )


def _loopback(address: str) -> bool:
    if address in ("localhost", ""):
        return address == "localhost"
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
