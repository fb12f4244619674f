"""Checking a case's expectations against an answer and a retrieval: one reason per failure.

>>> from assistant.types import Answer
>>> case = Case(id="c", question="q", must_contain=["1815"], must_not_contain=["HACKED"])
>>> check_answer(case, Answer(question="q", standalone_question="q", text="Born in 1815 [1]."))
[]
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.types import Answer
from regress.cases import Case
from retrieval.types import Passage

# How a model says it has no answer (system prompt rule 3 asks for one plain sentence). Only
# counted when the answer cites nothing: an answer that cites a passage answered something.
_NO_ANSWER = re.compile(
    r"\b(?:do(?:es)?\s+not|don't|doesn't|did\s+not)\s+(?:say|contain|mention|cover|provide|"
    r"include|state|specify|answer|give)\b"
    r"|\bno\s+(?:information|relevant|mention|answer)\b"
    r"|\bnot\s+(?:mentioned|covered|stated|specified)\b"
    r"|\b(?:cannot|can't|can\s+not|unable\s+to)\s+(?:answer|find|tell)\b"
    r"|\bfound\s+nothing\b",
    re.IGNORECASE,
)


def names_document(entry: str, *, source: str, doc_id: str, passage_id: str) -> bool:
    """Does a `must_cite`/`must_retrieve` entry name this passage's document (or the passage)?

    >>> names_document("ada.md", source="docs/ada.md", doc_id="1f", passage_id="p")
    True
    >>> names_document("a.md", source="docs/ada.md", doc_id="1f", passage_id="p")
    False
    """
    entry = entry.strip().removeprefix("./")
    return entry in (source, doc_id, passage_id) or source.endswith("/" + entry)


def says_no_answer(answer: Answer) -> str | None:
    """Why the answer counts as a refusal, or None."""
    if answer.refused:
        return "refused: the retrieval was too weak to answer"
    if not answer.sources:
        found = _NO_ANSWER.search(answer.text)
        if found:
            return f'says it has no answer ("{found.group(0)}")'
    return None


def check_answer(case: Case, answer: Answer) -> list[str]:
    """The case's answer expectations that `answer` breaks, as readable reasons."""
    reasons: list[str] = []
    cited = answer.sources
    for entry in case.must_cite:
        if not any(
            names_document(entry, source=s.source, doc_id=s.doc_id, passage_id=s.passage_id)
            for s in cited
        ):
            got = ", ".join(f"[{s.number}] {s.source}" for s in cited) or "nothing"
            reasons.append(f"must cite {entry}, but cited {got}")
    for pattern in case.must_contain:
        if pattern.search(answer.text) is None:
            reasons.append(f"must contain {pattern.describe()}: {_excerpt(answer.text)}")
    for pattern in case.must_not_contain:
        found = pattern.search(answer.text)
        if found is not None:
            reasons.append(f"must not contain {pattern.describe()}, found {found!r}")
    if case.must_refuse is not None:
        why = says_no_answer(answer)
        if case.must_refuse and why is None:
            reasons.append(f"must refuse, but answered: {_excerpt(answer.text)}")
        elif not case.must_refuse and why is not None:
            reasons.append(f"must answer, but {why}")
    return reasons


def check_retrieval(case: Case, passages: Sequence[Passage]) -> list[str]:
    """`must_retrieve` entries missing from the retrieved passages."""
    reasons = []
    for entry in case.must_retrieve:
        if not any(
            names_document(entry, source=p.source, doc_id=p.doc_id, passage_id=p.id)
            for p in passages
        ):
            got = ", ".join(dict.fromkeys(p.source for p in passages)) or "nothing"
            reasons.append(f"must retrieve {entry} in the top {len(passages)}, got {got}")
    return reasons


def _excerpt(text: str, width: int = 120) -> str:
    flat = " ".join(text.split())
    if not flat:
        return "(empty answer)"
    return f'"{flat}"' if len(flat) <= width else f'"{flat[: width - 1]}…"'
