"""Helpers that the assistant's tests share (and the commands' and UI's tests built on them)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from assistant.chat import Assistant
from assistant.llm import LLMClient
from assistant.types import Answer, Source, Timings
from retrieval.types import Passage
from tests.assistant.conftest import StaticRetriever, llm_settings, make_passages

# --- an assistant over fixed passages -----------------------------------------------------------


def make_assistant(
    server_url: str | None,
    tmp_path: Path,
    passages: list[Passage] | None = None,
    query_tokens: int = 10,
    **kw: object,
) -> tuple[Assistant, StaticRetriever]:
    """An assistant over fixed passages (`StaticRetriever`), with the LLM at `server_url` or, for
    None, extractive; `kw` are settings."""
    settings = llm_settings(server_url, tmp_path, **kw)
    retriever = StaticRetriever(make_passages() if passages is None else passages, query_tokens)
    llm = LLMClient(settings, backoff_s=0.01) if server_url else None
    return Assistant(settings, retriever, llm=llm), retriever


# --- saved conversations: a sample answer, a read-only database file ----------------------------


def sample_source(number: int, text: str, *, sentences: tuple[str, ...] = ()) -> Source:
    """Source `number` of an answer, every field filled in (odd numbers have a page)."""
    return Source(
        number=number,
        passage_id=f"p{number}",
        doc_id=f"d{number}",
        title=f"Doc {number}",
        source=f"docs/doc{number}.md",
        page=number if number % 2 else None,
        heading="Early life" if number == 1 else None,
        text=text,
        char_start=10 * number,
        char_end=10 * number + len(text),
        score=0.5 + number / 10,
        rank=number,
        truncated=number == 2,
        sentences=sentences,
    )


def sample_answer(question: str = "When was Ada Lovelace born?", **overrides: object) -> Answer:
    """An answer with every field a saved turn keeps filled in; `overrides` replace fields."""
    answer = Answer(
        question=question,
        standalone_question=question + " (standalone)",
        text="Ada Lovelace was born on 10 December 1815 [1].",
        sources=[
            sample_source(1, "Ada was born on 10 December 1815.", sentences=("Ada was born [1].",))
        ],
        uncited=[sample_source(2, "She wrote notes.")],
        omitted=[Passage("p9", 0.1, "left out", "d9", "docs/x.md", "X", 3, 0, 8)],
        timings=Timings(retrieve_ms=12.5, total_ms=40.0, output_tokens=7),
        messages=[{"role": "system", "content": "s"}, {"role": "user", "content": question}],
        mode="hybrid+colbert",
        model="gpt-4o-mini",
        extractive=False,
        refused=False,
        partial=True,
        error="The answer reached the limit.",
        error_kind="length",
        invalid_citations=[7],
        top_score=0.61,
        threshold=0.44,
    )
    for key, value in overrides.items():
        setattr(answer, key, value)
    return answer


class read_only:
    """Make `path` unwritable for this process, root included (root ignores mode bits, so the
    immutable attribute is set too)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.immutable = os.geteuid() == 0

    def __enter__(self) -> None:
        # Leave no WAL beside it: the reader then needs nothing written.
        sqlite3.connect(self.path).execute("PRAGMA wal_checkpoint(TRUNCATE)").connection.close()
        self.path.chmod(0o444)
        if self.immutable:
            assert shutil.which("chattr"), "chattr is needed to make a file read-only for root"
            subprocess.run(["chattr", "+i", str(self.path)], check=True)

    def __exit__(self, *exc: object) -> None:
        if self.immutable:
            subprocess.run(["chattr", "-i", str(self.path)], check=True)
        self.path.chmod(0o644)


# --- a library where access matters: public, `hr` and `legal` documents on one topic ------------

MARKERS = {"hr": "zanzibarite", "legal": "quokkalith"}  # words only the restricted docs contain
LIBRARY = {
    "public/handbook.md": (
        "# Holiday bonus\n\nEvery employee gets a holiday bonus in December. The holiday bonus "
        "policy is explained in the staff handbook, and the bonus is paid with the December "
        "salary."
    ),
    "hr/bands.md": (
        "# Holiday bonus by salary band\n\nThe holiday bonus policy for band zanzibarite pays "
        "employees 4,250 euros in December. HR keeps the holiday bonus bands confidential."
    ),
    "legal/contract.md": (
        "# Holiday bonus contract clause\n\nClause quokkalith of the employment contract says the "
        "holiday bonus policy can change each December. Legal reviews every holiday bonus "
        "clause."
    ),
}


def forbidden_markers(groups: tuple[str, ...]) -> list[str]:
    """The marker words a user in `groups` must never see."""
    return [word for group, word in MARKERS.items() if group not in groups]


def write_library(root: Path) -> Path:
    """The library under `root/docs` (hr/ labelled by its `.msrag-groups` file); returns it."""
    docs = root / "docs"
    for name, text in LIBRARY.items():
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_text(text)
    (docs / "hr" / ".msrag-groups").write_text("# only HR\nhr\n")
    return docs
