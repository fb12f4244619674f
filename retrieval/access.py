"""Who may see a document: the `groups` every chunk carries, and the rules for group names.

Every point stores `groups`, a list of keywords. A document for everyone stores the reserved
token `PUBLIC` (never an empty list or a missing field), and a search for a caller in groups
G keeps only points whose `groups` contain any of `PUBLIC, *G` — one `MatchAny` condition
ANDed onto every prefetch and the final stage.

Why a reserved token rather than "no groups = public":

- the access condition is a single exact-keyword `MatchAny` in `must`: there is no `should` /
  `is_empty` branch that a missing, misspelt or malformed payload could satisfy, so a point
  written without `groups` (by another tool, or a bug) is visible to nobody but an unrestricted
  caller — the check fails closed;
- `MatchAny` compares whole keywords, so `*`, quotes or a 100 kB string in a group or source
  name are matched literally and can only ever select fewer points, never more;
- `PUBLIC` cannot be spelt as a group name (names start with a letter or digit), so no groups
  file, CLI flag or upload can grant or revoke "public" by accident.

>>> access_groups(["HR", "legal"])
('_public', 'hr', 'legal')
>>> stored_groups([])
['_public']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from retrieval.errors import RetrievalError

PUBLIC = "_public"
GROUPS_FIELD = "groups"
GROUPS_FILE = ".msrag-groups"  # a folder's default groups for the files below it
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class GroupNameError(RetrievalError, ValueError):
    """A group name that is not a plain lowercase word."""


def group_name(name: str) -> str:
    """`name` normalised (trimmed, lowercased), or `GroupNameError`.

    >>> group_name(" HR ")
    'hr'
    """
    clean = name.strip().lower()
    if not _NAME.fullmatch(clean):
        shown = clean if len(clean) <= 40 else clean[:40] + "…"
        raise GroupNameError(
            f"{shown!r} is not a valid group name: use 1-64 lowercase letters, digits, '.', '_' "
            "or '-', starting with a letter or digit (e.g. hr, legal, team-a)."
        )
    return clean


def group_names(names: Iterable[str] | str | None) -> tuple[str, ...]:
    """Sorted, de-duplicated, validated group names; a string is split on commas and spaces.

    >>> group_names("legal, hr hr")
    ('hr', 'legal')
    """
    if names is None:
        return ()
    if isinstance(names, str):
        names = re.split(r"[,\s]+", names)
    return tuple(sorted({group_name(n) for n in names if n.strip()}))


def stored_groups(groups: Iterable[str]) -> list[str]:
    """The `groups` payload of a document restricted to `groups` (none = everyone)."""
    names = group_names(list(groups))
    return list(names) if names else [PUBLIC]


def payload_groups(stored: object) -> tuple[str, ...]:
    """The real groups a stored `groups` payload names (PUBLIC dropped: `()` = everyone); the
    inverse of `stored_groups`, and the one place that unwraps the marker.

    >>> payload_groups(["_public"]), payload_groups(["hr", "legal"]), payload_groups(None)
    ((), ('hr', 'legal'), ())
    """
    if not isinstance(stored, list | tuple):
        return ()
    return tuple(sorted({g for g in stored if isinstance(g, str) and g != PUBLIC}))


def access_groups(groups: Iterable[str]) -> tuple[str, ...]:
    """The keywords a caller in `groups` may match: public documents and their groups'."""
    return (PUBLIC, *group_names(list(groups)))


def visible(payload_groups: object, caller: Iterable[str] | None) -> bool:
    """Does a point with this `groups` payload pass the caller's filter? (None = unrestricted.)

    The same rule the engine applies; used where the library is listed from payloads.
    """
    if caller is None:
        return True
    if not isinstance(payload_groups, list):
        return False
    return bool(set(payload_groups) & set(access_groups(caller)))


def folder_groups(path: Path, stop: Path | None = None) -> tuple[str, ...] | None:
    """Groups from the nearest `.msrag-groups` in `path`'s folder or above (up to `stop`).

    The file holds group names separated by commas, spaces or lines; `#` starts a comment; an
    empty file means "everyone". None when no such file exists on the way up.
    """
    folder = path if path.is_dir() else path.parent
    folder = folder.resolve()
    limit = stop.resolve() if stop is not None else None
    while True:
        candidate = folder / GROUPS_FILE
        if candidate.is_file():
            lines = [line.split("#", 1)[0] for line in candidate.read_text().splitlines()]
            try:
                return group_names(" ".join(lines))
            except GroupNameError as exc:
                raise GroupNameError(f"{candidate}: {exc}") from exc
        if folder == limit or folder.parent == folder:
            return None
        folder = folder.parent
