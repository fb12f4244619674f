"""The Documents page: what the store holds, one document's chunks, delete, re-ingest, upload."""

from __future__ import annotations

import logging

import streamlit as st

from ui import components, markup, resources
from ui.engine import Engine
from ui.uploads import UPLOAD_TYPES, ingest_uploads

log = logging.getLogger("msrag.ui")


def _init_state() -> None:
    ss = st.session_state
    ss.setdefault("upload_round", 0)  # part of the uploader's key: a new round empties it
    ss.setdefault("upload_results", [])
    ss.setdefault("pending_uploads", [])  # (name, bytes) waiting to be ingested this run


def upload_section(engine: Engine | None) -> None:
    """Upload → ingest with a progress bar → a line per file. Pending uploads are processed
    from session state, so the same path serves the widget and tests."""
    st.subheader("Add documents")
    files = st.file_uploader(
        "Text, Markdown, HTML or PDF",
        type=list(UPLOAD_TYPES),
        accept_multiple_files=True,
        key=f"upload-{st.session_state['upload_round']}",
    )
    if st.button("Add to the store", disabled=not files or engine is None):
        st.session_state["pending_uploads"] = [(f.name, f.getvalue()) for f in files or []]
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
            results = ingest_uploads(
                pending, engine.settings, engine.store, engine.encoders, progress=progress
            )
        except Exception as exc:  # the per-file errors are in results; this is the store itself
            log.exception("ingesting uploads failed")
            problem = markup.escape_markdown(str(exc))
            st.error(f"Could not add the files: {problem}", icon=":material/error:")
            return
        st.session_state["upload_results"] = results
        st.session_state["upload_round"] += 1
        st.rerun()  # a fresh, empty uploader; the results are shown from session state
    components.upload_results(st.session_state["upload_results"])


def documents_page() -> None:
    _init_state()
    settings, engine, problem = resources.open_engine()
    st.header("Documents")
    if problem:
        st.error(markup.escape_markdown(problem), icon=":material/error:")
    upload_section(engine)
