"""Golden files: the stored prompt and retrieval of each case, compared as reviewable text.

Per case, `<goldens>/<case id>.prompt.txt` holds the messages exactly as sent to the model and
`<goldens>/<case id>.retrieval.txt` the retrieved passages in rank order (no scores: they move in
the last digits between machines; ids and order are what matter). Both are plain text so a
prompt change shows up as a unified diff in the report and in code review.

>>> text = render_prompt(
...     [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
... )
>>> print(text)
=== system ===
Be brief.
=== user ===
Hi
<BLANKLINE>
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from retrieval.types import Passage

Outcome = Literal["same", "changed", "missing", "new", "updated"]


def render_prompt(messages: Sequence[dict[str, str]]) -> str:
    """The messages as text: a `=== role ===` line before each message's content."""
    parts = [f"=== {m['role']} ===\n{m['content']}" for m in messages]
    return "\n".join(parts) + "\n"


def render_retrieval(query: str, mode: str, top_k: int, passages: Sequence[Passage]) -> str:
    """The retrieval as text: what was searched, then one line per passage in rank order."""
    lines = [f"query: {query}", f"mode: {mode}  top_k: {top_k}"]
    for rank, p in enumerate(passages, start=1):
        where = f"{p.source}#{p.chunk_index}"
        if p.heading:
            where += f" ({p.heading})"
        lines.append(f"{rank}. {where}  {p.id}")
    if not passages:
        lines.append("(no passages)")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Comparison:
    """A rendered text against its golden file: `outcome`, and `diff` when it changed."""

    path: Path
    outcome: Outcome
    diff: str = ""


class GoldenStore:
    """Reads, compares and (with `update`) writes the golden files of one suite.

        store = GoldenStore(Path("/tmp/goldens"), update=False)
        text = render_prompt(answer.messages)
        store.compare("ada-born", "prompt", text).outcome
        # -> 'same'
    """

    def __init__(self, directory: Path, *, update: bool) -> None:
        self.directory = directory
        self.update = update

    def path(self, case_id: str, layer: str) -> Path:
        return self.directory / f"{case_id}.{layer}.txt"

    def read(self, case_id: str, layer: str) -> str | None:
        path = self.path(case_id, layer)
        return path.read_text(encoding="utf-8") if path.exists() else None

    def compare(self, case_id: str, layer: str, rendered: str) -> Comparison:
        """'same'; 'changed' with a diff, or 'missing'; with `update`, 'updated' (diff kept)
        or 'new'. Like snapshot tools, a missing golden is only written with `update`: CI
        must not quietly accept a baseline nobody reviewed.
        """
        path = self.path(case_id, layer)
        stored = self.read(case_id, layer)
        if stored is None:
            if not self.update:
                return Comparison(path, "missing")
            self._write(path, rendered)
            return Comparison(path, "new")
        if stored == rendered:
            return Comparison(path, "same")
        diff = unified_diff(stored, rendered, f"{path.name} (stored)", f"{path.name} (this run)")
        if self.update:
            self._write(path, rendered)
            return Comparison(path, "updated", diff)
        return Comparison(path, "changed", diff)

    def diff(self, case_id: str, layer: str, rendered: str) -> str:
        """The diff of `rendered` against the stored golden, writing nothing ('' if none)."""
        stored = self.read(case_id, layer)
        if stored is None or stored == rendered:
            return ""
        name = self.path(case_id, layer).name
        return unified_diff(stored, rendered, f"{name} (stored)", f"{name} (this run)")

    def _write(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def unified_diff(old: str, new: str, old_name: str, new_name: str, context: int = 2) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=old_name,
            tofile=new_name,
            n=context,
        )
    )
