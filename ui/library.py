"""The library in the sidebar: what the user may see (read-only), and for admins the controls
to change who may see a document, delete it, and read the audit log.

Every list comes from the engine with the user's access applied in the store's query; every
change goes through the one admin service (`engine.admin`, `teams/admin.py`), which checks the
user's rights and writes the audit log.
"""

from __future__ import annotations

import streamlit as st

from retrieval.errors import MsragError
from teams.audit import ACTIONS
from teams.errors import LastGroupError
from teams.identity import User
from ui import markup
from ui.engine import Engine


def library_panel(engine: Engine, user: User) -> None:
    try:
        docs = engine.library(user)
    except MsragError:  # the server went away: the store panel and the chat say why, once
        st.caption(":material/library_books: The library cannot be listed right now.")
        return
    with st.expander(f"Library ({len(docs)} documents)", icon=":material/library_books:"):
        for doc in docs:
            who = ", ".join(doc.groups) or "everyone"
            st.markdown(
                f"**{markup.escape_markdown(doc.title)}**  \n"
                f"{markup.escape_markdown(doc.source)} — {doc.chunks} chunks — {who}"
            )
        if not docs:
            st.caption("No documents you may see yet.")
        if user.admin and docs:
            _admin_controls(engine, user, [d.source for d in docs])


def _admin_controls(engine: Engine, user: User, sources: list[str]) -> None:
    st.divider()
    source = st.selectbox("Document", sources, key="library-source")
    groups = st.text_input("Groups (comma-separated)", key="library-groups", placeholder="hr")
    col1, col2, col3 = st.columns(3)
    try:
        if col1.button("Grant", key="library-grant", disabled=not groups):
            now = engine.admin.grant(user, source, groups)
            st.session_state["library-note"] = f"{source}: {', '.join(now) or 'everyone'}"
            st.rerun()
        if col2.button("Revoke", key="library-revoke", disabled=not groups):
            try:
                now = engine.admin.revoke(user, source, groups)
                st.session_state["library-note"] = f"{source}: {', '.join(now) or 'everyone'}"
            except LastGroupError:  # it would become public: ask first (below)
                st.session_state["library-confirm-public"] = (source, groups)
            st.rerun()
        if col3.button("Delete", key="library-delete", type="secondary"):
            engine.admin.delete(user, source)
            st.session_state["library-note"] = f"{source}: deleted"
            st.rerun()
    except MsragError as exc:
        st.error(markup.escape_markdown(str(exc)), icon=":material/error:")
    _confirm_public(engine, user)
    note = st.session_state.get("library-note")
    if note:
        st.caption(markup.escape_markdown(note))


def _confirm_public(engine: Engine, user: User) -> None:
    """Revoking a document's last group makes it public: only after the admin confirms."""
    pending = st.session_state.get("library-confirm-public")
    if not pending:
        return
    source, groups = pending
    st.warning(
        f"Revoking {markup.escape_markdown(groups)} leaves "
        f"{markup.escape_markdown(source)} with no group: everyone will be able to read it."
    )
    yes, no = st.columns(2)
    if yes.button("Revoke and make public", key="library-revoke-public", type="primary"):
        try:
            now = engine.admin.revoke(user, source, groups, public=True)  # audited
            st.session_state["library-note"] = f"{source}: {', '.join(now) or 'everyone'}"
        except MsragError as exc:
            st.session_state["library-note"] = str(exc)
        st.session_state["library-confirm-public"] = None
        st.rerun()
    if no.button("Cancel", key="library-revoke-cancel"):
        st.session_state["library-confirm-public"] = None
        st.rerun()


def audit_panel(engine: Engine, user: User) -> None:
    """Admins: the newest audit entries (who asked what, what came back, library changes,
    refusals), filtered by action."""
    if not user.admin:
        return
    with st.expander("Audit log", icon=":material/policy:"):
        shown = st.selectbox(
            "Action",
            ("all", *ACTIONS),
            key="audit-action",
            help="denied: a refused admin action, conversation link or sign-in; sign-in: a "
            "user's first page in a browser session.",
        )
        try:
            entries = engine.audit.entries(action=None if shown == "all" else shown, limit=100)
        except MsragError as exc:
            st.error(markup.escape_markdown(str(exc)), icon=":material/error:")
            return
        rows = [
            {
                "time (UTC)": e.at,
                "user": e.user,
                "action": e.action,
                "detail": e.detail,
                "documents": ", ".join(e.doc_ids),
                "groups": ", ".join(e.groups),
            }
            for e in entries
        ]
        if rows:
            st.table(rows)  # plain HTML: readable, copyable, and searchable with Ctrl-F
        else:
            st.caption("Nothing recorded yet." if shown == "all" else f"No {shown} entries.")
