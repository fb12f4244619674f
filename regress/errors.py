"""The regression layer's errors: the suite cannot run as asked (exit code 2)."""

from __future__ import annotations

from retrieval.errors import MsragError


class RegressError(MsragError):
    """The suite cannot run at all (bad options, no model to record with)."""


class CaseFileError(RegressError):
    """The case file cannot be read or is invalid; `problems` lists (line, message) pairs.

    The message holds one `file:line: what is wrong` line per problem.
    """

    def __init__(self, path: str, problems: list[tuple[int | None, str]]) -> None:
        self.path = path
        self.problems = sorted(problems, key=lambda p: p[0] or 0)
        lines = [
            f"{path}:{line}: {msg}" if line else f"{path}: {msg}" for line, msg in self.problems
        ]
        count = len(lines)
        head = f"The case file {path} has {count} problem{'s' if count > 1 else ''}:"
        super().__init__("\n".join([head, *("  " + line for line in lines)]))


class CassetteError(RegressError):
    """The cassette file is missing or unreadable, or has no recording for a request."""


class CorpusError(RegressError):
    """A document listed by the suite is missing or cannot be loaded."""
