"""Who is in which group: the groups file (`MSRAG_GROUPS_FILE`), re-read when it changes.

A YAML mapping from a user name or an email pattern (shell-style `*`, `?`, case-insensitive)
to groups; a user's groups are the union over every entry that matches them. The group
`admins` is special: admins may upload, delete and change groups, and see every document.

```yaml
alice@example.com: [admins]
"*@hr.example.com": [hr]
bob@example.com: hr, legal
```

Only the file's patterns are patterns: a user name is always compared literally, so a name
like `*` matches the entry `"*"` and nothing else.

    directory = GroupsDirectory(Path("groups.yaml"))
    directory.groups_of("bob@example.com")
    # -> ('hr', 'legal')

It knows names and groups only; who a user *is* (`teams.identity.User`) is decided from it.
"""

from __future__ import annotations

import fnmatch
import threading
from pathlib import Path

import yaml

from retrieval.access import GroupNameError, group_names
from teams.errors import GroupsFileError

ADMINS = "admins"


class GroupsDirectory:
    """The groups file at `path`, parsed once and again whenever its modification time or size
    changes (so an operator's edit takes effect on the next request, no restart)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._entries: list[tuple[str, tuple[str, ...]]] = []

    def groups_of(self, user: str) -> tuple[str, ...]:
        """The union of the groups of every entry that names or matches `user`."""
        name = user.strip().lower()
        groups: set[str] = set()
        for pattern, entry_groups in self._current():
            if pattern == name or fnmatch.fnmatchcase(name, pattern):
                groups.update(entry_groups)
        return tuple(sorted(groups))

    def _current(self) -> list[tuple[str, tuple[str, ...]]]:
        try:
            stat = self.path.stat()
        except OSError as exc:
            raise GroupsFileError(
                f"The groups file {self.path} cannot be read ({exc.strerror or exc}): create it "
                "or fix MSRAG_GROUPS_FILE."
            ) from exc
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._entries = _parse(self.path)
                self._stamp = stamp
            return self._entries


def _parse(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise GroupsFileError(
            f"The groups file {path} is not valid YAML ({exc}): fix it (see docs/guide/teams.md)."
        ) from exc
    if not isinstance(data, dict):
        raise GroupsFileError(
            f"The groups file {path} must map users or email patterns to groups "
            "(e.g. `bob@example.com: [hr]`); see docs/guide/teams.md."
        )
    entries = []
    for pattern, groups in data.items():
        if groups is None:
            groups = []
        if not isinstance(groups, str | list):
            raise GroupsFileError(
                f"In {path}, {pattern!r} must map to a list of groups or a comma-separated string."
            )
        try:
            names = group_names(groups if isinstance(groups, str) else [str(g) for g in groups])
        except GroupNameError as exc:
            raise GroupsFileError(f"In {path}, entry {pattern!r}: {exc}") from exc
        entries.append((str(pattern).strip().lower(), names))
    return entries
