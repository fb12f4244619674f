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

Identities from different sign-in modes never share a namespace: what a user owns (saved
conversations, feedback) is stored under `User.key` — `local` for the operator (`none` mode and
the command line), `header:<name>` and `oidc:<email>` for signed-in users. A signed-in name that
could pass for the operator or a namespaced key (`local`, anything with a `:`) is refused, and so
is a request that carries the identity header more than once (which value counts would be up to
whoever parses it).

    settings = TeamSettings(auth="header", groups_file=None)
    Identities(settings).from_headers({"X-Forwarded-Email": "bob@example.com"})
    # -> User(name='bob@example.com', groups=(), admin=False, realm='header')
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from teams.errors import SignInRefusedError, UnsafeBindError
from teams.groups_file import ADMINS, GroupsDirectory
from teams.settings import TeamSettings

LOCAL_USER = "local"
_MAX_NAME = 320  # the longest valid email address
# Signed-in names that would read as the operator (`local`, `cli:<account>`) or as another
# namespace's key (`header:…`): refused at sign-in in header and oidc mode.
RESERVED_NAMES = frozenset({LOCAL_USER})

Realm = Literal["", "header", "oidc"]  # "": the operator (none mode, the command line, `--as`)


@dataclass(frozen=True)
class User:
    """Who is asking, in every mode and from every edge (browser, CLI `--as`): name (email in
    header/oidc mode), groups, admin or not, and the sign-in mode that vouched for them (`realm`).
    The one user type of the product."""

    name: str
    groups: tuple[str, ...] = ()
    admin: bool = False
    # Not part of equality (which is who they are named and what they may see); what they own
    # is looked up by `key`, which includes it.
    realm: Realm = field(default="", compare=False)

    @property
    def access(self) -> tuple[str, ...] | None:
        """What their searches filter on: their groups, or None (everything) for admins."""
        return None if self.admin else self.groups

    @property
    def key(self) -> str:
        """The owner id of what they save (conversations, feedback): namespaced by sign-in mode,
        so `header:local` can never open the operator's `local`."""
        return f"{self.realm}:{self.name}" if self.realm else self.name


class Identities:
    """Turns what the edge knows (headers, an OIDC email) into a `User`, per the settings."""

    def __init__(self, settings: TeamSettings) -> None:
        self.settings = settings
        self._directory = GroupsDirectory(settings.groups_file) if settings.groups_file else None

    def user(self, name: str, realm: Realm = "") -> User:
        """The user `name` with their groups from the groups file (re-read when it changes)."""
        name = name.strip().lower()
        if self._directory is None:
            return User(name=name, realm=realm)
        groups = self._directory.groups_of(name)
        return User(name=name, groups=groups, admin=ADMINS in groups, realm=realm)

    def signed_in(self, name: str, realm: Literal["header", "oidc"]) -> User:
        """A user the proxy or the identity provider vouched for; `SignInRefusedError` (its
        message is the reason) for a name that is empty, too long, has control characters, or
        is reserved (the operator's `local`, anything with a `:`)."""
        name = name.strip()
        if not name:
            raise SignInRefusedError("the sign-in gave no user name", name, "missing")
        if len(name) > _MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise SignInRefusedError(
                "the user name is too long or has control characters", name[:_MAX_NAME]
            )
        if name.lower() in RESERVED_NAMES or ":" in name:
            raise SignInRefusedError(
                f"the name {name!r} is reserved (it could pass for the local operator)",
                name,
                "reserved",
            )
        return self.user(name, realm)

    def local(self) -> User:
        """`none` mode: the one local user, unrestricted."""
        return User(name=LOCAL_USER, groups=(), admin=True)

    def from_headers(self, headers: Mapping[str, str]) -> User | None:
        """`header` mode: the user the proxy names, or None when the header is absent or the
        sign-in is refused (`sign_in` says why)."""
        try:
            return self.sign_in(headers)
        except SignInRefusedError:
            return None

    def sign_in(self, headers: Mapping[str, str]) -> User:
        """`header` mode: the user the proxy names in `MSRAG_AUTH_HEADER`. `SignInRefusedError`
        when the header is absent, appears more than once (pass a headers object with
        `get_all`, such as `st.context.headers`: a plain mapping keeps one value per name), or
        names a refused user (`signed_in`)."""
        header = self.settings.auth_header
        values = [v for k, v in headers.items() if k.lower() == header.lower()]
        get_all = getattr(headers, "get_all", None)
        if callable(get_all):
            values = [str(v) for v in get_all(header)]
        if not values:
            raise SignInRefusedError(f"the request has no {header} header", "", "missing")
        if len(values) > 1:
            raise SignInRefusedError(
                f"the request carries the {header} header {len(values)} times: a proxy sends "
                "it once, so the request was refused rather than guess which one counts",
                ", ".join(v.strip() for v in values)[:_MAX_NAME],
                "repeated",
            )
        return self.signed_in(values[0], "header")


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
