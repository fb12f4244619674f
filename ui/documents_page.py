"""The Documents page: what the store holds, one document's chunks, delete, re-ingest, upload,
grant and revoke.

Everything it shows comes from `retrieval.ingest.library`, which reads payload indexes only, so a
click costs the same on a store of 50 documents or 50,000 chunks. Every change goes through the
admin service (`engine.admin`, `teams/admin.py`), which checks the user's rights and writes the
audit entry; the page only decides which controls to draw.
"""

from __future__ import annotations

import logging

import streamlit as st

from retrieval.errors import MsragError
from retrieval.ingest.library import (
    DocumentInfo,
    chunks_of,
    documents,
    human_size,
    sort_documents,
)
from teams.errors import LastGroupError
from teams.identity import User
from ui import components, library, markup, resources, signin
from ui.engine import Engine
from ui.uploads import UPLOAD_TYPES

CHUNKS_SHOWN = 200  # an opened document shows this many chunks (a 2,000-page PDF stays usable)

log = logging.getLogger("msrag.ui")


def _init_state() -> None:
    ss = st.session_state
    ss.setdefault("upload_round", 0)  # part of the uploader's key: a new round empties it
    ss.setdefault("upload_results", [])
    ss.setdefault("pending_uploads", [])  # (name, bytes) waiting to be ingested this run
    ss.setdefault("doc_confirm_delete", None)
    ss.setdefault("doc_message", None)


def library_table(rows: list[DocumentInfo]) -> None:
    """The documents as a table: sortable by any column (click its header)."""
    st.dataframe(
        [
            {
                "source": r.source,
                "title": r.title,
                "chunks": r.chunks,
                "pages": r.pages,
                "size": human_size(r.size_bytes),
                "ingested (UTC)": (r.ingested_at or "")[:19].replace("T", " "),
                "content hash": r.content_hash[:12],
                "groups": ", ".join(r.groups) or "everyone",
            }
            for r in rows
        ],
        hide_index=True,
        width="stretch",
        key="docs-table",
    )


def _delete(engine: Engine, info: DocumentInfo, user: User) -> None:
    ss = st.session_state
    try:
        engine.admin.delete(user, info.source)  # admins only; audited
        ss["doc_message"] = f"Deleted {info.source} ({info.chunks} chunks)."
    except MsragError as exc:
        ss["doc_message"] = str(exc)
    ss["doc_confirm_delete"] = None
    ss["doc-open"] = None


def _confirm_public(engine: Engine, info: DocumentInfo, user: User) -> None:
    """Revoking a document's last group makes it public: only after the admin confirms."""
    ss = st.session_state
    pending = ss.get("doc_confirm_public")
    if not pending or pending[0] != info.source:
        return
    st.warning(
        markup.escape_markdown(
            f"Revoking {', '.join(info.groups)} leaves {info.source} with no group: everyone "
            "will be able to read it."
        ),
        icon=":material/warning:",
    )
    yes, no = st.columns(2)
    if yes.button("Revoke and make public", key="doc-revoke-public", type="primary"):
        try:
            now = engine.admin.revoke(user, info.source, pending[1], public=True)  # audited
            ss["doc_message"] = f"{info.source}: for {', '.join(now) or 'everyone'}"
        except MsragError as exc:
            ss["doc_message"] = str(exc)
        ss["doc_confirm_public"] = None
        st.rerun()
    if no.button("Cancel", key="doc-revoke-cancel"):
        ss["doc_confirm_public"] = None
        st.rerun()


def document_view(engine: Engine, info: DocumentInfo, user: User) -> None:
    """One document: its facts, its chunks in order; for admins re-ingest, delete (asks
    first) and who may see it."""
    st.subheader(markup.escape_markdown(info.title), anchor=False)
    st.caption(
        markup.escape_markdown(
            f"{info.source} · {info.chunks} chunks · {human_size(info.size_bytes)} · ingested "
            f"{(info.ingested_at or '—')[:19].replace('T', ' ')} · {info.content_hash[:12]} · "
            f"for {', '.join(info.groups) or 'everyone'}"
        )
    )
    if engine.admin.allows(user):
        _admin_actions(engine, info, user)
    try:
        chunks = chunks_of(engine.store, info.source, user.access)
    except MsragError as exc:
        st.error(markup.escape_markdown(str(exc)), icon=":material/error:")
        return
    for chunk in chunks[:CHUNKS_SHOWN]:
        where = f" · {chunk.location}" if chunk.location else ""
        components.html(
            f'<div class="msrag-source-head">#{chunk.chunk_index}'
            f"{markup.escape_text(where)}</div>"
            f'<div class="msrag-passage">{markup.escape_text(chunk.text)}</div>'
        )
    if len(chunks) > CHUNKS_SHOWN:
        st.caption(
            f"Showing the first {CHUNKS_SHOWN} of {len(chunks)} chunks; "
            "`msrag docs show` prints them all."
        )


def _admin_actions(engine: Engine, info: DocumentInfo, user: User) -> None:
    ss = st.session_state
    groups = st.text_input("Groups (comma-separated)", key="doc-groups", placeholder="hr")
    grant, revoke = st.columns(2)
    for column, label, is_grant in ((grant, "Grant", True), (revoke, "Revoke", False)):
        if column.button(label, key=f"doc-{label.lower()}", disabled=not groups):
            try:
                change = engine.admin.grant if is_grant else engine.admin.revoke
                now = change(user, info.source, groups)
                ss["doc_message"] = f"{info.source}: for {', '.join(now) or 'everyone'}"
            except LastGroupError:  # it would become public: ask first
                ss["doc_confirm_public"] = (info.source, groups)
            except MsragError as exc:
                ss["doc_message"] = str(exc)
            st.rerun()
    _confirm_public(engine, info, user)
    left, right = st.columns(2)
    if left.button("Re-ingest", icon=":material/sync:", key="doc-reingest"):
        try:
            result = engine.admin.reingest(user, info.source)
            detail = result.reason or f"{result.chunks} chunks"
            ss["doc_message"] = f"{info.source} — {result.status}: {detail}"
        except MsragError as exc:
            ss["doc_message"] = str(exc)
        st.rerun()
    if ss["doc_confirm_delete"] != info.source:
        if right.button("Delete…", icon=":material/delete:", key="doc-delete-ask"):
            ss["doc_confirm_delete"] = info.source
            st.rerun()
    else:
        st.warning(
            markup.escape_markdown(
                f"Delete {info.source} and its {info.chunks} chunks from the store? Answers will "
                "no longer cite it; this cannot be undone."
            ),
            icon=":material/warning:",
        )
        yes, no = st.columns(2)
        # Callbacks run before the next run draws the widgets, so the selection can be cleared.
        yes.button(
            "Delete",
            type="primary",
            key="doc-delete-yes",
            on_click=_delete,
            args=(engine, info, user),
        )
        if no.button("Cancel", key="doc-delete-no"):
            ss["doc_confirm_delete"] = None
            st.rerun()


def upload_section(engine: Engine, user: User) -> None:
    """Upload → ingest with a progress bar → a line per file. Pending uploads are processed
    from session state, so the same path serves the widget and tests. Admins only."""
    if not engine.admin.allows(user):
        return
    st.subheader("Add documents")
    files = st.file_uploader(
        "Text, Markdown, HTML or PDF",
        type=list(UPLOAD_TYPES),
        accept_multiple_files=True,
        key=f"upload-{st.session_state['upload_round']}",
    )
    groups = st.text_input(
        "Only for groups (comma-separated)",
        key="upload-groups",
        help="Empty: a re-uploaded file keeps the groups it has; a new file is for everyone. "
        "To make a restricted document public, revoke its groups below.",
    )
    if st.button("Add to the store", disabled=not files):
        st.session_state["pending_uploads"] = [(f.name, f.getvalue()) for f in files or []]
        st.session_state["pending_groups"] = groups
    pending = st.session_state["pending_uploads"]
    if pending:
        st.session_state["pending_uploads"] = []
        bar = st.progress(0.0, text="Ingesting…")

        def progress(done: int, total: int, name: str) -> None:
            label = (
                f"Ingesting {markup.escape_markdown(name)} ({done + 1}/{total})" if name else "Done"
            )
            bar.progress(done / total if total else 1.0, text=label)

        try:
            results = engine.admin.upload(  # admins only; audited
                user,
                pending,
                groups=st.session_state.get("pending_groups") or "",
                progress=progress,
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


def library_section(engine: Engine, user: User) -> None:
    ss = st.session_state
    try:
        rows = documents(engine.store, user.access)
    except MsragError as exc:
        st.error(markup.escape_markdown(str(exc)), icon=":material/error:")
        return
    except Exception as exc:  # a server that went away: a sentence, not a traceback
        log.exception("listing documents failed")
        st.error(markup.escape_markdown(f"Could not list the documents: {exc}"))
        return
    if ss["doc_message"]:
        st.info(markup.escape_markdown(ss["doc_message"]), icon=":material/info:")
        ss["doc_message"] = None
    text = st.text_input("Filter", key="doc-filter", placeholder="Part of a source or title")
    shown = sort_documents(rows, "source", text)
    st.caption(
        f"{len(shown)} of {len(rows)} documents, {sum(r.chunks for r in shown):,} chunks"
        " — click a column header to sort."
    )
    library_table(shown)
    by_source = {r.source: r for r in shown}
    chosen = st.selectbox(
        "Open a document",
        list(by_source),
        index=None,
        key="doc-open",
        placeholder="Choose a source to see its chunks",
    )
    if chosen in by_source:
        document_view(engine, by_source[chosen], user)


def documents_page() -> None:
    _init_state()
    settings, engine, problem = resources.open_engine()
    st.header("Documents", anchor=False)
    if problem or engine is None:
        st.error(markup.escape_markdown(problem or "No store is open."), icon=":material/error:")
        return
    user = signin.session_user()
    library_section(engine, user)
    st.divider()
    upload_section(engine, user)
    library.audit_panel(engine, user)


if __name__ == "__main__":  # run as a page of ui/app.py
    documents_page()
