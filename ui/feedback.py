"""Under every saved answer: 👍/👎 (`st.feedback`) with an optional comment, kept with the turn,
and "Save as regression case", which appends the turn to the suite `MSRAG_REGRESS_CASES` and
records its goldens (see `regress/feedback.py`)."""

from __future__ import annotations

import logging
import re
from typing import Any

import streamlit as st

from assistant.citations import strip_markers
from assistant.conversations import ConversationStore, HistoryError, Turn
from regress.settings import RegressSettings
from retrieval.errors import MsragError
from ui import markup
from ui.engine import Engine

log = logging.getLogger("msrag.ui")

_RATING = {0: "down", 1: "up"}
_VALUE = {"down": 0, "up": 1}
# Phrases offered for `must_contain`: numbers and dates are what an answer must not lose.
_NUMBER = re.compile(r"\b\d[\d,.:/-]*\d\b|\b\d\b")


def feedback_row(
    history: ConversationStore,
    stored: Turn,
    message: dict[str, Any],
    engine: Engine | None,
    settings: RegressSettings,
    *,
    with_case: bool = True,
) -> None:
    """The thumbs and, once rated, a comment box; saved to the turn on every change; and
    (`with_case`) the "Save as regression case" form."""
    current = stored.feedback
    rating = st.feedback(
        "thumbs",
        key=f"fb-{stored.id}",
        default=_VALUE.get(current.rating) if current and current.rating else None,
    )
    chosen = _RATING.get(rating) if rating is not None else None
    saved_rating = current.rating if current else None
    if chosen != saved_rating:
        _save(history, stored, message, chosen, current.comment if current and chosen else "")
    if chosen is not None:
        _comment_box(history, message["stored"], message, chosen)
    if engine is not None and with_case:
        _save_case(history, message["stored"], engine, settings)


def _save(
    history: ConversationStore,
    stored: Turn,
    message: dict[str, Any],
    rating: str | None,
    comment: str,
) -> bool:
    try:
        history.set_feedback(stored.id, rating, comment)  # type: ignore[arg-type]
        fresh = history.turn(stored.id)
    except HistoryError as exc:
        st.caption(markup.escape_markdown(str(exc)))
        return False
    if fresh is not None:
        message["stored"] = fresh
    return True


def _comment_box(
    history: ConversationStore, stored: Turn, message: dict[str, Any], rating: str
) -> None:
    current = stored.feedback.comment if stored.feedback else ""
    key = f"fb-comment-{stored.id}"
    comment = st.text_input(
        "What was wrong?" if rating == "down" else "Comment (optional)",
        value=current,
        key=key,
        max_chars=10_000,
        placeholder="Optional: say what you expected",
    )
    if comment != current and _save(history, stored, message, rating, comment):
        st.caption(":material/check: Saved with this answer.")
    elif current:
        st.caption(f"Your comment: {markup.escape_markdown(current)}")


def suggested_phrases(stored: Turn) -> str:
    """Numbers and dates in the answer, one per line: a starting point the user edits."""
    text = strip_markers(stored.answer.text)
    seen: list[str] = []
    for found in _NUMBER.findall(text):
        if found not in seen:
            seen.append(found)
    return "\n".join(seen[:5])


def _save_case(
    history: ConversationStore, stored: Turn, engine: Engine, settings: RegressSettings
) -> None:
    with st.popover("Save as regression case", icon=":material/playlist_add_check:"):
        st.caption(
            f"Appends this question (and the conversation before it) to "
            f"{markup.escape_markdown(str(settings.regress_cases))}: must cite the sources it "
            "cited, must contain the phrases below; its prompt and retrieval are recorded."
        )
        phrases = st.text_area(
            "Must contain (one phrase per line)",
            value=suggested_phrases(stored),
            key=f"case-phrases-{stored.id}",
            max_chars=10_000,
        )
        if st.button("Save case", key=f"case-save-{stored.id}", icon=":material/save:"):
            st.session_state[f"case-result-{stored.id}"] = save_case(
                history, stored, engine, settings, phrases.splitlines()
            )
        result = st.session_state.get(f"case-result-{stored.id}")
        if result:
            st.markdown(markup.escape_markdown(result))


def save_case(
    history: ConversationStore,
    stored: Turn,
    engine: Engine,
    settings: RegressSettings,
    phrases: list[str],
) -> str:
    """Append the turn as a case and record its goldens; one sentence saying what happened."""
    from regress.feedback import append_cases, case_from_turn, record_case

    path = settings.regress_cases
    try:
        earlier = [t for t in history.turns(stored.conversation_id) if t.position < stored.position]
        case = case_from_turn(stored, earlier, must_contain=phrases)
        written = append_cases(path, [case])
        if not written:
            return f"Case {case.id} is already in {path}."
        result = record_case(path, case.id, engine.settings, retriever=engine.retriever)
    except MsragError as exc:
        return str(exc)
    except Exception as exc:  # never a traceback on the page
        log.exception("saving a regression case failed")
        return f"Could not save the case ({type(exc).__name__}: {exc})."
    verdicts = ", ".join(f"{layer.layer} {layer.status}" for layer in result.layers)
    how = "" if engine.settings.llm_configured else " (no language model: run it with --llm off)"
    return f"Saved case {case.id} to {path} and recorded its goldens: {verdicts}{how}."
