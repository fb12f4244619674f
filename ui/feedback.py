"""Under every saved answer: 👍/👎 (`st.feedback`), an optional comment, kept with the turn."""

from __future__ import annotations

import streamlit as st

from assistant.conversations import ConversationStore, HistoryError, Turn
from retrieval.settings import Settings
from ui import markup
from ui.engine import Engine

_RATING = {0: "down", 1: "up"}
_VALUE = {"down": 0, "up": 1}


def feedback_row(
    history: ConversationStore,
    stored: Turn,
    message: dict,
    engine: Engine | None,
    settings: Settings,
) -> None:
    """The thumbs and, once rated, a comment box; saved to the turn on every change."""
    key = f"fb-{stored.id}"
    current = stored.feedback
    rating = st.feedback(
        "thumbs",
        key=key,
        default=_VALUE.get(current.rating) if current and current.rating else None,
    )
    chosen = _RATING.get(rating) if rating is not None else None
    saved_rating = current.rating if current else None
    comment = current.comment if current else ""
    if chosen is not None:
        with st.form(f"fb-form-{stored.id}", border=False, enter_to_submit=True):
            comment = st.text_input(
                "What was wrong?" if chosen == "down" else "Comment (optional)",
                value=comment,
                key=f"fb-comment-{stored.id}",
                max_chars=10_000,
            )
            send = st.form_submit_button("Save comment", icon=":material/send:")
        if current and current.comment and not send:
            st.caption(f"Your comment: {markup.escape_markdown(current.comment)}")
    else:
        send = False
    if chosen != saved_rating or send:
        try:
            history.set_feedback(stored.id, chosen, comment if chosen else "")
            fresh = history.turn(stored.id)
        except HistoryError as exc:
            st.caption(markup.escape_markdown(str(exc)))
            return
        if fresh is not None:
            message["stored"] = fresh
        if send:
            st.caption(":material/check: Thanks — saved with this answer.")
