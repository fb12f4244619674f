"""The chat page: `msrag ui` or `streamlit run ui/app.py`.

One script run draws the sidebar (store, LLM, mode and top-k, last timings, uploads, new chat),
the conversation so far, and — when a question was sent — streams the new answer with its
citations and sources. Configuration comes only from `Settings()` (environment and `.env`).
Every failure is shown as a sentence and the chat stays usable; no traceback reaches the page.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

# `streamlit run ui/app.py` puts ui/ on sys.path, not the project: make the packages importable
# from any working directory (the project is used from a checkout, not necessarily installed).
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import streamlit as st  # noqa: E402
from pydantic import SecretStr, ValidationError  # noqa: E402

from assistant.identity import Identities, User  # noqa: E402
from assistant.types import (  # noqa: E402
    Answer,
    ChatMessage,
    CitationEvent,
    DoneEvent,
    Source,
    SourcesEvent,
    StageEvent,
    TextEvent,
)
from retrieval.access import group_names  # noqa: E402
from retrieval.errors import MsragError  # noqa: E402
from retrieval.loaders import doc_id_for  # noqa: E402
from retrieval.settings import Settings  # noqa: E402
from ui import components, library, markup, signin  # noqa: E402
from ui.engine import Engine  # noqa: E402
from ui.uploads import UPLOAD_TYPES, ingest_uploads  # noqa: E402

log = logging.getLogger("msrag.ui")

_STAGE_LABEL = {
    "condense": "Rewriting the follow-up as a standalone question…",
    "retrieve": "Searching the store…",
    "generate": "Writing the answer…",
}


# --- the shared engine -------------------------------------------------------------------------


def _settings_key(settings: Settings) -> str:
    """Identity of a configuration: a changed `.env` or environment opens a new engine."""
    values = {
        name: value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        for name, value in settings
    }
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


@st.cache_resource(
    show_spinner="Loading the models and opening the store…",
    max_entries=1,  # one store per process: a new configuration releases the old store's lock
    on_release=lambda engine: engine.close(),
)
def _engine(key: str, _settings: Settings) -> Engine:
    return Engine.open(_settings)


def open_engine() -> tuple[Settings | None, Engine | None, str | None]:
    """Settings and the shared engine, or why there is none (a sentence for the page)."""
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        return (
            None,
            None,
            (f"The configuration is invalid ({problems}): fix .env or the MSRAG_* variables."),
        )
    try:
        return settings, _engine(_settings_key(settings), settings), None
    except MsragError as exc:
        return settings, None, str(exc)
    except Exception as exc:  # never a traceback on the page; the log keeps the details
        log.exception("could not open the engine")
        return (
            settings,
            None,
            (
                f"Could not start the assistant ({type(exc).__name__}: {exc}). Check the settings "
                "and the server log, then reload the page."
            ),
        )


# --- the conversation ---------------------------------------------------------------------------


def _init_state(user: User) -> None:
    ss = st.session_state
    if ss.get("user", user.name) != user.name:  # another person in this session: start clean
        for key in list(ss.keys()):
            del ss[key]
    ss["user"] = user.name
    ss.setdefault("messages", [])  # {"role": "user", content} | {"role": "assistant", turn, …}
    ss.setdefault("turns", 0)
    ss.setdefault("last_timings", None)
    ss.setdefault("upload_round", 0)  # part of the uploader's key: a new round empties it
    ss.setdefault("upload_results", [])
    ss.setdefault("pending_uploads", [])  # (name, bytes) waiting to be ingested this run


def _history() -> list[ChatMessage]:
    history = []
    for m in st.session_state["messages"]:
        if m["role"] == "user":
            history.append(ChatMessage("user", m["content"]))
        elif m.get("answer") is not None and m["answer"].text:
            history.append(ChatMessage("assistant", m["answer"].text))
    return history


def _question(text: str) -> None:
    components.html(f'<div class="msrag-question">{markup.escape_text(text)}</div>')


def draw_answer_footer(message: dict[str, Any], engine: Engine | None) -> None:
    """Labels, sources and alignment toggles under an answer (or the error instead of one)."""
    answer: Answer | None = message.get("answer")
    if answer is None:
        st.error(markup.escape_markdown(message["error"]), icon=":material/error:")
        return
    components.answer_notes(answer)
    aligner = engine.alignment if engine is not None else None
    components.sources_panel(answer, message["turn"], aligner)


def draw_history(engine: Engine | None) -> None:
    for message in st.session_state["messages"]:
        with st.chat_message(message["role"]):
            if message["role"] == "user":
                _question(message["content"])
                continue
            answer = message.get("answer")
            if answer is not None:
                components.html(
                    components.answer_body(answer.text, message["turn"], answer.all_sources)
                )
            draw_answer_footer(message, engine)


def run_turn(
    question: str,
    engine: Engine | None,
    problem: str | None,
    mode: str,
    top_k: int,
    user: User,
) -> None:
    """Show the question, stream the answer into the page, and keep both in the history."""
    history = _history()
    st.session_state["messages"].append({"role": "user", "content": question})
    with st.chat_message("user"):
        _question(question)
    st.session_state["turns"] += 1
    turn = st.session_state["turns"]
    with st.chat_message("assistant"):
        if engine is None:
            error = problem or "The store is not open."
            message = {"role": "assistant", "turn": turn, "error": error}
        else:
            message = stream_answer(engine, question, history, mode, top_k, turn, user)
        st.session_state["messages"].append(message)
        if message.get("answer") is not None:
            st.session_state["last_timings"] = message["answer"].timings
        draw_answer_footer(message, engine)


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


# --- adding documents ----------------------------------------------------------------------------


def upload_section(engine: Engine | None, user: User) -> None:
    """Upload → ingest with a progress bar → a line per file. Pending uploads are processed
    from session state, so the same path serves the widget and tests. Admins only."""
    if not user.admin:
        return
    st.subheader("Add documents")
    files = st.file_uploader(
        "Text, Markdown, HTML or PDF",
        type=list(UPLOAD_TYPES),
        accept_multiple_files=True,
        key=f"upload-{st.session_state['upload_round']}",
    )
    groups = st.text_input(
        "Only for groups (comma-separated; empty = everyone)", key="upload-groups"
    )
    if st.button("Add to the store", disabled=not files or engine is None, width="stretch"):
        st.session_state["pending_uploads"] = [(f.name, f.getvalue()) for f in files or []]
        st.session_state["pending_groups"] = groups
    pending = st.session_state["pending_uploads"]
    if pending and engine is not None:
        st.session_state["pending_uploads"] = []
        bar = st.progress(0.0, text="Ingesting…")

        def progress(done: int, total: int, name: str) -> None:
            label = (
                f"Ingesting {markup.escape_markdown(name)} ({done + 1}/{total})" if name else "Done"
            )
            bar.progress(done / total if total else 1.0, text=label)

        try:
            wanted = group_names(st.session_state.get("pending_groups") or "")
            results = ingest_uploads(
                pending,
                engine.settings,
                engine.store,
                engine.encoders,
                progress=progress,
                groups=wanted,
            )
            for r in results:
                if r.status == "ingested":
                    engine.audit.record(
                        user.name, "upload", r.path, doc_ids=[doc_id_for(r.path)], groups=r.groups
                    )
        except MsragError as exc:  # a bad group name
            st.error(markup.escape_markdown(str(exc)), icon=":material/error:")
            return
        except Exception as exc:  # the per-file errors are in results; this is the store itself
            log.exception("ingesting uploads failed")
            problem = markup.escape_markdown(str(exc))
            st.error(f"Could not add the files: {problem}", icon=":material/error:")
            return
        st.session_state["upload_results"] = results
        st.session_state["upload_round"] += 1
        st.rerun()  # a fresh, empty uploader; the results are shown from session state
    components.upload_results(st.session_state["upload_results"])


# --- the page ----------------------------------------------------------------------------------


def main() -> None:
    st.set_page_config(page_title="msrag — chat with your documents", page_icon=":material/forum:")
    components.html(markup.STYLE)
    settings, engine, problem = open_engine()
    if settings is None:  # without settings the auth mode is unknown: show nothing else
        st.error(markup.escape_markdown(problem or "No settings."), icon=":material/error:")
        st.stop()
    user = signin.gate(settings, engine.identities if engine else Identities(settings))
    _init_state(user)
    defaults = settings

    with st.sidebar:
        st.title(":material/forum: msrag")
        signin.who_panel(settings, user)
        store_box = st.container()
        mode, top_k = components.retrieval_controls(defaults.mode, defaults.top_k)
        timings_box = st.container()
        if st.button("New chat", icon=":material/add_comment:", width="stretch"):
            st.session_state["messages"] = []
            st.session_state["last_timings"] = None
        st.divider()
        if engine is not None:
            library.library_panel(engine, user)
        upload_section(engine, user)

    if problem:
        st.error(markup.escape_markdown(problem), icon=":material/error:")
    elif not st.session_state["messages"]:
        st.caption("Ask a question about the documents in the store; answers cite their sources.")
    if engine is not None:
        library.audit_panel(engine, user)
    draw_history(engine)
    question = st.chat_input("Ask about your documents")
    if question:
        run_turn(question, engine, problem, mode, top_k, user)

    # Drawn last so they show this run's answer and uploads.
    with store_box:
        if engine is None:
            st.warning("The store is not open: see the message.", icon=":material/warning:")
        else:
            try:
                components.store_panel(engine.stats(user.access), engine.llm_label)
            except Exception as exc:  # a server that went away after start
                log.warning("store stats failed: %s", exc)
                st.warning(markup.escape_markdown(str(exc)), icon=":material/warning:")
    with timings_box:
        components.timings_panel(st.session_state["last_timings"])


main()
