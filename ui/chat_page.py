"""The Chat page: saved conversations in the sidebar, the open one drawn, a new answer streamed.

The open conversation is in the URL (`?c=<id>`): a reload or a shared link on the same machine
brings it back with its sources and "why this passage" views. Every turn is saved to the
conversation store as soon as it is answered; when the store cannot be used the chat still
answers and says, in one sentence, why the conversation is not saved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import streamlit as st

from assistant.conversations import ConversationStore, HistoryError, Turn
from assistant.transcript import to_markdown
from assistant.types import (
    Answer,
    ChatMessage,
    CitationEvent,
    DoneEvent,
    Source,
    SourcesEvent,
    StageEvent,
    TextEvent,
)
from regress.settings import RegressSettings
from retrieval.errors import MsragError
from teams.audit import AuditLog
from teams.identity import User
from ui import components, feedback, markup, resources, signin
from ui.engine import Engine

log = logging.getLogger("msrag.ui")

_STAGE_LABEL = {
    "condense": "Rewriting the follow-up as a standalone question…",
    "retrieve": "Searching the store…",
    "generate": "Writing the answer…",
}
LIST_LIMIT = 50  # conversations listed in the sidebar (the search box reaches the rest)
LIST_TITLE_CHARS = 48
TURNS_SHOWN = (
    10  # latest turns drawn; "Show N earlier turns" draws the rest (bench/conversation.py)
)


# --- session state ---------------------------------------------------------------------------


def _init_state() -> None:
    ss = st.session_state
    ss.setdefault("messages", [])  # {"role": "user", content} | {"role": "assistant", turn, …}
    ss.setdefault("turns", 0)  # turn numbers are unique per session: widget keys and anchors
    ss.setdefault("last_timings", None)
    ss.setdefault("conversation_id", None)
    ss.setdefault("history_note", None)  # one sentence about the history (bad link, fault)
    ss.setdefault("confirm_delete", None)


def _next_turn() -> int:
    st.session_state["turns"] += 1
    return int(st.session_state["turns"])


def _assistant_message(turn: Turn) -> dict[str, Any]:
    return {"role": "assistant", "turn": _next_turn(), "answer": turn.answer, "stored": turn}


def show_conversation(history: ConversationStore | None, conversation_id: int | None) -> None:
    """Make `conversation_id` the open conversation (None: a new, empty one)."""
    ss = st.session_state
    ss["messages"] = []
    ss["last_timings"] = None
    ss["conversation_id"] = None
    ss["confirm_delete"] = None
    ss["show_all_turns"] = False
    if conversation_id is not None and history is not None:
        for turn in history.turns(conversation_id):
            ss["messages"].append({"role": "user", "content": turn.question})
            ss["messages"].append(_assistant_message(turn))
        ss["conversation_id"] = conversation_id
        st.query_params["c"] = str(conversation_id)
    else:
        st.query_params.pop("c", None)


def follow_link(
    history: ConversationStore | None,
    history_problem: str | None,
    denied: Callable[[str], None] | None = None,
) -> None:
    """Open the conversation named by `?c=` if it is not the open one; a bad id is a note.
    Another user's conversation reads as an unknown one, and is reported to `denied` (the
    audit log)."""
    wanted = st.query_params.get("c")
    ss = st.session_state
    if wanted is None or wanted == str(ss["conversation_id"]):
        return
    if history is None:
        ss["history_note"] = history_problem
        st.query_params.pop("c", None)
        return
    if not wanted.strip().isdigit():
        ss["history_note"] = (
            f"The link names conversation '{wanted[:40]}', which is not a conversation number: "
            "a new conversation was started."
        )
        show_conversation(history, None)
        return
    try:
        found = history.get(int(wanted)) is not None
        if found:
            show_conversation(history, int(wanted))
            return
    except HistoryError as exc:
        ss["history_note"] = str(exc)
        show_conversation(None, None)
        return
    if denied is not None:
        try:
            if history.belongs_to_another(int(wanted)):
                denied(f"conversation {int(wanted)} (?c= link): another user's conversation")
        except HistoryError:
            pass  # the note below is what the user gets either way
    ss["history_note"] = (
        f"There is no conversation {int(wanted)} in this history (deleted, or saved on another "
        "machine): a new conversation was started."
    )
    show_conversation(history, None)


def _denied_recorder(settings: RegressSettings | None, user: User) -> Callable[[str], None] | None:
    """Writes a refusal of `user` to the audit log (none without settings: no known file)."""
    if settings is None:
        return None
    audit = AuditLog.from_settings(settings)
    return lambda detail: audit.record(user.name, "denied", detail, groups=user.groups)


def _history_messages() -> list[ChatMessage]:
    history = []
    for m in st.session_state["messages"]:
        if m["role"] == "user":
            history.append(ChatMessage("user", m["content"]))
        elif m.get("answer") is not None and m["answer"].text:
            history.append(ChatMessage("assistant", m["answer"].text))
    return history


# --- drawing -------------------------------------------------------------------------------------


def _question(text: str) -> None:
    components.html(f'<div class="msrag-question">{markup.escape_text(text)}</div>')


def draw_answer_footer(
    message: dict[str, Any],
    engine: Engine | None,
    history: ConversationStore | None,
    settings: RegressSettings,
    *,
    collapsed: bool = False,
) -> None:
    """Labels, sources, alignment toggles and feedback under an answer (or its error).

    `collapsed` (older answers): the sources panel is drawn only when its toggle is on. A long
    conversation then redraws one panel per question instead of one per answer — the cost that
    made the 10th answer come later than the first (bench/conversation.py).
    """
    answer: Answer | None = message.get("answer")
    if answer is None:
        st.error(markup.escape_markdown(message["error"]), icon=":material/error:")
        return
    components.answer_notes(answer)
    aligner = engine.alignment if engine is not None else None
    shown = len(answer.all_sources) + (len(answer.omitted) if answer.refused else 0)
    opened = not collapsed or st.toggle(
        f"Sources ({shown})", key=f"sources-{message['turn']}", disabled=not shown
    )
    if opened:
        components.sources_panel(answer, message["turn"], aligner)
    stored: Turn | None = message.get("stored")
    if stored is not None and history is not None:
        # "Save as regression case" of an older answer is behind its toggle too. Admins only:
        # a case goes to the team's shared suite, and its goldens record the retrieval of the
        # whole library, not of one user's view.
        admin = signin.session_user().admin
        feedback.feedback_row(
            history, stored, message, engine, settings, with_case=opened and admin
        )


def draw_history(
    engine: Engine | None, history: ConversationStore | None, settings: RegressSettings
) -> None:
    """The conversation so far: the latest `TURNS_SHOWN` turns, with a button for the rest
    (a 50-turn conversation would otherwise redraw 50 turns before every new answer)."""
    messages = st.session_state["messages"]
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=-1)
    first = 0
    if not st.session_state.get("show_all_turns"):
        users = [i for i, m in enumerate(messages) if m["role"] == "user"]
        if len(users) > TURNS_SHOWN:
            first = users[-TURNS_SHOWN]
            earlier = len(users) - TURNS_SHOWN
            if st.button(
                f"Show {earlier} earlier turn{'s' if earlier != 1 else ''}",
                icon=":material/expand_less:",
                key="show-earlier",
            ):
                st.session_state["show_all_turns"] = True
                st.rerun()
    for i, message in enumerate(messages):
        if i < first:
            continue
        with st.chat_message(message["role"]):
            if message["role"] == "user":
                _question(message["content"])
                continue
            answer = message.get("answer")
            if answer is not None:
                components.html(
                    components.answer_body(answer.text, message["turn"], answer.all_sources)
                )
            draw_answer_footer(message, engine, history, settings, collapsed=i != last)


def run_turn(
    question: str,
    engine: Engine | None,
    problem: str | None,
    history: ConversationStore | None,
    settings: RegressSettings,
    mode: str,
    top_k: int,
    user: User,
) -> None:
    """Show the question, stream the answer into the page, save the turn, keep both."""
    earlier = _history_messages()
    st.session_state["messages"].append({"role": "user", "content": question})
    with st.chat_message("user"):
        _question(question)
    turn = _next_turn()
    with st.chat_message("assistant"):
        message: dict[str, Any]
        if engine is None:
            message = {"role": "assistant", "turn": turn, "error": problem or "No store is open."}
        else:
            message = stream_answer(engine, question, earlier, mode, top_k, turn, user)
        st.session_state["messages"].append(message)
        answer = message.get("answer")
        if answer is not None:
            st.session_state["last_timings"] = answer.timings
            if engine is not None:
                save_turn(history, message, top_k, engine.llm_label)
        draw_answer_footer(message, engine, history, settings)


def save_turn(
    history: ConversationStore | None, message: dict[str, Any], top_k: int, model_label: str
) -> None:
    """Store the answered turn in the open conversation (a new one for the first question)."""
    if history is None:
        return
    ss = st.session_state
    try:
        stored = history.add_turn(
            ss["conversation_id"], message["answer"], top_k=top_k, model_label=model_label
        )
    except HistoryError as exc:
        ss["history_note"] = str(exc)
        st.info(markup.escape_markdown(str(exc)), icon=":material/history:")
        return
    message["stored"] = stored
    if ss["conversation_id"] != stored.conversation_id:
        ss["conversation_id"] = stored.conversation_id
        st.query_params["c"] = str(stored.conversation_id)


def stream_answer(
    engine: Engine,
    question: str,
    history: list[ChatMessage],
    mode: str,
    top_k: int,
    turn: int,
    user: User,
) -> dict[str, Any]:
    """Run the turn, redrawing the answer (with live citation links) as events arrive."""
    status = st.empty()
    body = st.empty()
    text = ""
    sources: tuple[Source, ...] = ()
    message: dict[str, Any] = {"role": "assistant", "turn": turn}
    try:
        # the user's assistant: the store returns only passages their groups may see
        assistant = engine.assistant_for(user)
        for event in assistant.stream(question, history, mode=mode, top_k=top_k):
            if isinstance(event, StageEvent):
                status.caption(_STAGE_LABEL.get(event.stage, event.stage))
            elif isinstance(event, SourcesEvent):
                sources = event.sources
            elif isinstance(event, TextEvent | CitationEvent):
                text += event.text if isinstance(event, TextEvent) else event.marker
                body.markdown(components.answer_body(text, turn, sources), unsafe_allow_html=True)
            elif isinstance(event, DoneEvent):
                answer = event.answer
                body.markdown(
                    components.answer_body(answer.text, turn, answer.all_sources),
                    unsafe_allow_html=True,
                )
                message["answer"] = answer
    except MsragError as exc:
        message["error"] = str(exc)
    except Exception as exc:  # never a traceback on the page; the log keeps the details
        log.exception("the chat turn failed")
        message["error"] = (
            f"Something went wrong while answering ({type(exc).__name__}: {exc}). "
            "The chat still works: ask again, or check the server log."
        )
    status.empty()
    if "answer" not in message and "error" not in message:
        message["error"] = "The answer ended without a result: ask again."
    return message


# --- the sidebar: saved conversations ------------------------------------------------------------


def conversations_panel(history: ConversationStore | None, history_problem: str | None) -> None:
    """New chat, search, the list (newest first), and rename/delete/download of the open one."""
    ss = st.session_state
    if st.button("New chat", icon=":material/add_comment:", width="stretch"):
        show_conversation(history, None)
        ss["history_note"] = None
        st.rerun()  # the page above was drawn before this click was seen
    if history is None:
        if history_problem:
            st.caption(f":material/history_toggle_off: {markup.escape_markdown(history_problem)}")
        return
    search = st.text_input(
        "Search conversations", key="conversation_search", placeholder="Search titles and questions"
    )
    try:
        listed = history.conversations(search, limit=LIST_LIMIT)
    except HistoryError as exc:
        st.caption(markup.escape_markdown(str(exc)))
        return
    if not listed:
        st.caption("No matching conversations." if search.strip() else "No saved conversations.")
    for conversation in listed:
        current = conversation.id == ss["conversation_id"]
        title = " ".join(conversation.title.split())
        if len(title) > LIST_TITLE_CHARS:
            title = title[: LIST_TITLE_CHARS - 1] + "…"
        if st.button(
            markup.escape_markdown(title),
            key=f"open-{conversation.id}",
            type="primary" if current else "tertiary",
            width="stretch",
            help=f"{conversation.turns} turn{'s' if conversation.turns != 1 else ''}, last "
            f"{conversation.updated_at[:16].replace('T', ' ')} UTC",
        ):
            show_conversation(history, conversation.id)
            ss["history_note"] = None
            st.rerun()
    if ss["conversation_id"] is not None:
        _open_conversation_actions(history, ss["conversation_id"])


def _transcript(history: ConversationStore, conversation_id: int) -> str:
    try:
        conversation = history.get(conversation_id)
        if conversation is None:
            return "This conversation was deleted.\n"
        return to_markdown(conversation, history.turns(conversation_id))
    except HistoryError as exc:
        return f"{exc}\n"


def _open_conversation_actions(history: ConversationStore, conversation_id: int) -> None:
    ss = st.session_state
    conversation = history.get(conversation_id)
    if conversation is None:
        return
    # open while a delete waits for its confirmation (the buttons are inside)
    confirming = ss["confirm_delete"] == conversation_id
    with st.expander("This conversation", icon=":material/edit:", expanded=confirming):
        title = st.text_input(
            "Title", value=conversation.title, max_chars=10_000, key=f"title-{conversation_id}"
        )
        if st.button("Rename", icon=":material/edit:", key="rename"):
            try:
                history.rename(conversation_id, title)
                st.rerun()
            except HistoryError as exc:
                st.caption(markup.escape_markdown(str(exc)))
        st.download_button(
            "Download as Markdown",
            # made when clicked, not on every run: a long conversation would cost every answer
            partial(_transcript, history, conversation_id),
            file_name=f"conversation-{conversation_id}.md",
            mime="text/markdown",
            icon=":material/download:",
        )
        if ss["confirm_delete"] != conversation_id:
            if st.button("Delete…", icon=":material/delete:", key="delete-ask"):
                ss["confirm_delete"] = conversation_id
                st.rerun()
            return
        st.warning(
            f"Delete this conversation and its {conversation.turns} turn"
            f"{'s' if conversation.turns != 1 else ''}? This cannot be undone.",
            icon=":material/warning:",
        )
        yes, no = st.columns(2)
        if yes.button("Delete", type="primary", key="delete-yes"):
            try:
                history.delete(conversation_id)
            except HistoryError as exc:
                ss["history_note"] = str(exc)
            show_conversation(history, None)
            st.rerun()
        if no.button("Cancel", key="delete-no"):
            ss["confirm_delete"] = None
            st.rerun()


# --- the page ----------------------------------------------------------------------------------


def chat_page() -> None:
    _init_state()
    configured, engine, problem = resources.open_engine()
    # no history when the configuration itself is invalid: its path would be a guess
    user = signin.session_user()
    # namespaced by sign-in mode: a signed-in `local` is not the operator (`User.key`)
    history, history_problem = resources.open_history(configured, user.key)
    settings = configured or RegressSettings.model_construct()
    follow_link(history, history_problem, _denied_recorder(configured, user))

    with st.sidebar:
        mode, top_k = components.retrieval_controls(settings.mode, settings.top_k)
        timings_box = st.container()
        st.divider()
        conversations_box = st.container()

    if problem:
        st.error(markup.escape_markdown(problem), icon=":material/error:")
    note = st.session_state["history_note"] or (history_problem if history is None else None)
    if note:
        st.info(markup.escape_markdown(note), icon=":material/history:")
    if not st.session_state["messages"] and not problem:
        st.caption("Ask a question about the documents in the store; answers cite their sources.")
    draw_history(engine, history, settings)
    question = st.chat_input("Ask about your documents")
    if question:
        run_turn(question, engine, problem, history, settings, mode, top_k, user)

    # Drawn last so they show this run's answer and saved conversation.
    with timings_box:
        components.timings_panel(st.session_state["last_timings"])
    with conversations_box:
        conversations_panel(history, history_problem)


if __name__ == "__main__":  # run as a page of ui/app.py
    chat_page()
