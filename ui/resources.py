"""What every page of the app shares, opened once per server process: the engine and the history.

Both are `st.cache_resource`s: the embedded store admits one process and the models are too big
to load per tab, and one SQLite connection (serialised by `ConversationStore`) serves every tab.
Opening either can fail; the page then gets one sentence saying what is wrong and keeps working
without it (no store: no answers; no history: answers that are not saved).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path

import streamlit as st
from pydantic import SecretStr, ValidationError

from assistant.conversations import ConversationStore, HistoryError
from regress.settings import RegressSettings
from retrieval.encoders import Encoders
from retrieval.errors import MsragError
from ui.engine import Engine

log = logging.getLogger("msrag.ui")


def settings_key(settings: RegressSettings) -> str:
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
def _engine(key: str, _settings: RegressSettings) -> Engine:
    return Engine.open(_settings, _encoders(key, _settings))


@st.cache_resource(show_spinner=False, max_entries=1)
def _encoders(key: str, _settings: RegressSettings) -> Encoders:
    # Cached apart from the engine: while the store cannot be opened (a Qdrant server that is
    # away) every page run tries the store again, and need not load the models again too.
    return Encoders(_settings)


_engine_key: list[str] = []  # the key of the engine in the cache (at most one)
_engine_key_lock = threading.Lock()


def _engine_for(settings: RegressSettings) -> Engine:
    """The engine for these settings. When they changed, the old engine is released FIRST:
    Streamlit evicts a `max_entries=1` entry only after computing the new one, and the new
    engine cannot open a store folder whose lock the old one still holds."""
    key = settings_key(settings)
    with _engine_key_lock:
        if _engine_key and _engine_key[0] != key:
            _engine.clear()  # runs on_release: closes the old store, frees its lock
            _encoders.clear()  # not two sets of models in memory at once
        _engine_key[:] = [key]
        return _engine(key, settings)


def open_engine() -> tuple[RegressSettings | None, Engine | None, str | None]:
    """The settings and the shared engine, or why there is none (a sentence for the page)."""
    try:
        settings = RegressSettings()
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
        return settings, _engine_for(settings), None
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


@st.cache_resource(show_spinner=False, max_entries=256, on_release=lambda s: s.close())
def _history(path: str, user_id: str) -> ConversationStore:
    # A HistoryError is not cached: the next run tries again (the user may have fixed the file).
    # One store object per user: it reads and writes only that user's conversations.
    return ConversationStore(Path(path), user_id=user_id)


def open_history(
    settings: RegressSettings | None, user_id: str
) -> tuple[ConversationStore | None, str | None]:
    """`user_id`'s conversations, or why there are none (a sentence for the page)."""
    if settings is None:
        return None, None
    path = str(settings.conversations_path.resolve())
    try:
        store = _history(path, user_id)
        if not store.is_current():
            # The file was moved or deleted under the running app: start a new one there
            # rather than keep writing into a file nobody can see.
            _history.clear()
            store = _history(path, user_id)
        return store, None
    except HistoryError as exc:
        return None, str(exc)
    except Exception as exc:  # never a traceback on the page
        log.exception("could not open the conversation history")
        return None, (
            f"The conversation history could not be opened ({type(exc).__name__}: {exc}): "
            "check MSRAG_CONVERSATIONS_DB; the chat still answers without saving."
        )
