"""Turn chat feedback into regression cases: one answer the user saved, or every 👎 since a date.

A case made from a saved turn holds the question and the conversation before it, the mode and
top-k, `must_cite` = the sources the answer cited and `must_contain` = the phrases the user kept;
`record_case` then records its golden prompt and retrieval exactly as `msrag regress --update`
does (and, with a language model configured, its answer in the suite's cassette), so the next
`msrag regress` runs it and it passes. Cases from 👎 turns carry no answer expectations: they are
written "for review", with the user's comment as a YAML comment above them.

The case file (`MSRAG_REGRESS_CASES`) is created with a header when missing; cases are appended
as text after the last one, so comments and formatting already in the file are kept.

    case = case_from_turn(turn, earlier, must_contain=["1815"])
    append_cases(Path("msrag-cases.yaml"), [case])
    # -> ['fb-c3-t1']
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from assistant.citations import strip_markers
from assistant.conversations import Turn
from regress.cases import load_suite
from regress.errors import RegressError
from regress.llm_mode import LLMMode

HEADER = """\
# Prompt regression cases saved from the chat ("Save as regression case", and
# `msrag regress --from-feedback`). Run them with:
#
#   msrag regress {name}             # replay the recorded answers
#   msrag regress {name} --llm off   # without a language model: check extractive answers
#
# Cases marked REVIEW came from a 👎 and have no answer expectations yet: add must_contain /
# must_cite / must_not_contain, then `msrag regress {name} --update` to accept their goldens.
cases:
"""
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass
class NewCase:
    """A case to append: its YAML fields and the comment lines written above it."""

    fields: dict[str, Any]
    comments: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.fields["id"])


def case_id(turn: Turn) -> str:
    """`fb-c<conversation>-t<position>`: stable, so saving the same turn twice is noticed."""
    return f"fb-c{turn.conversation_id}-t{turn.position}"


def case_from_turn(
    turn: Turn,
    earlier: Sequence[Turn],
    *,
    must_contain: Sequence[str] = (),
    review: bool = False,
    user: str | None = None,
) -> NewCase:
    """A case for `turn`, with `earlier` (the turns before it in its conversation) as history.

    With `review` the answer is not trusted (a 👎): no `must_cite`, no phrases, and the user's
    comment is carried above the case. `user` (who gave the feedback, their key) is named in a
    `from user …` comment line above the case.
    """
    answer = turn.answer
    history: list[dict[str, str]] = []
    for before in earlier:
        if not before.answer.text.strip():
            continue  # a failed turn is not part of what the model sees as history
        history.append({"role": "user", "content": _clean(before.question)})
        history.append({"role": "assistant", "content": _clean(before.answer.text)})
    fields: dict[str, Any] = {"id": case_id(turn), "question": _clean(turn.question)}
    if history:
        fields["history"] = history
    if answer.mode:
        fields["mode"] = answer.mode
    if turn.top_k:
        fields["top_k"] = min(int(turn.top_k), 100)
    comments = [
        f"from conversation {turn.conversation_id}, turn {turn.position} "
        f"({turn.created_at[:16].replace('T', ' ')} UTC, {_clean(turn.model_label)})"
    ]
    if user:
        comments.insert(0, f"from user: {_clean(user)}")
    if review:
        feedback = turn.feedback
        comments.insert(0, "REVIEW: the user gave this answer 👎")
        if feedback and feedback.comment.strip():
            comments.append(f"comment: {_clean(feedback.comment)}")
        comments.append(f"answer given: {_clean(strip_markers(answer.text))}")
    else:
        cited = sorted({s.source for s in answer.sources})
        if cited:
            fields["must_cite"] = cited
        phrases = [_clean(p) for p in must_contain if _clean(p).strip()]
        if phrases:
            fields["must_contain"] = phrases
        if answer.refused:
            fields["must_refuse"] = True
    return NewCase(fields, comments)


def append_cases(path: Path, cases: Sequence[NewCase]) -> list[str]:
    """Append the cases whose id is not in the file yet (created with a header when missing);
    returns the ids written. The result is validated like any case file before it is kept."""
    path = Path(path)
    existing = _existing_ids(path)
    fresh = [c for c in cases if c.id not in existing]
    if not fresh:
        return []
    before = path.read_text(encoding="utf-8") if path.exists() else None
    text = before if before is not None else HEADER.format(name=path.name)
    if not text.endswith("\n"):
        text += "\n"
    for case in fresh:
        text += _render(case)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    try:
        load_suite(path)
    except Exception:
        # never leave a file the runner cannot read: put back what was there
        if before is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(before, encoding="utf-8")
        raise
    return [c.id for c in fresh]


def record_case(
    path: Path, case: str, settings: Any, *, encoders: Any = None, retriever: Any = None
) -> Any:
    """Run case `case` of the suite at `path` as `msrag regress --update` does (with a
    configured language model: `--llm live --record --update`), writing its goldens (and its
    cassette answer); returns its `CaseResult`."""
    from regress.runner import RegressionRunner

    suite = load_suite(path)
    live = bool(settings.llm_configured)
    runner = RegressionRunner(
        suite,
        settings,
        llm=LLMMode.LIVE if live else LLMMode.OFF,
        record=live,
        update=True,
        encoders=encoders,
        retriever=retriever,
    )
    with runner:
        report = runner.run([case])
    return report.results[0]


def parse_since(text: str) -> datetime:
    """A `--since` value: an ISO date or date-time (UTC when no zone is given)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise RegressError(
            f"--since '{text}' is not a date: give it as YYYY-MM-DD or YYYY-MM-DDTHH:MM."
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _existing_ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RegressError(
            f"The case file {path} is not valid YAML ({exc.__class__.__name__}): fix it, or set "
            "MSRAG_REGRESS_CASES to another file."
        ) from exc
    cases = data.get("cases") if isinstance(data, dict) else None
    return {str(c.get("id")) for c in cases or [] if isinstance(c, dict)}


def _render(case: NewCase) -> str:
    body = yaml.safe_dump(
        [case.fields], allow_unicode=True, sort_keys=False, width=100, default_flow_style=False
    )
    lines = [f"  # {line}" for line in _comment_lines(case.comments)]
    lines += ["  " + line if line else line for line in body.splitlines()]
    return "\n" + "\n".join(lines) + "\n"


def _comment_lines(comments: Sequence[str]) -> list[str]:
    out = []
    for comment in comments:
        for line in comment.splitlines() or [""]:
            out.append(line[:300] + ("…" if len(line) > 300 else ""))
    return out


def _clean(text: str) -> str:
    """Text for a case file: control characters dropped (YAML cannot hold most of them)."""
    return _CONTROL.sub("", text)
