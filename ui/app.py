"""The browser app: `msrag ui` or `streamlit run ui/app.py` — two pages, Chat and Documents.

This entry script sets up what both pages share (page config, styles, the store panel in the
sidebar) and hands over to the page in the URL (`st.navigation`). Configuration comes only from
`RegressSettings()` (environment and `.env`, read in `ui/resources.py`). Every failure is shown
as a sentence and the app stays usable; no traceback reaches the page.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

# `streamlit run ui/app.py` puts ui/ on sys.path, not the project: make the packages importable
# from any working directory (the project is used from a checkout, not necessarily installed).
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import streamlit as st  # noqa: E402

from teams.identity import Identities  # noqa: E402
from ui import components, library, markup, resources, signin  # noqa: E402

_HERE = Path(__file__).resolve().parent

log = logging.getLogger("msrag.ui")


def main() -> None:
    st.set_page_config(page_title="msrag — chat with your documents", page_icon=":material/forum:")
    components.html(markup.STYLE)
    settings, engine, problem = resources.open_engine()
    if settings is None:  # without settings the auth mode is unknown: show nothing else
        st.error(markup.escape_markdown(problem or "No settings."), icon=":material/error:")
        st.stop()
    # Who is asking is decided here, before any page draws; the pages read it from the session.
    user = signin.gate(settings, engine.identities if engine else Identities(settings))
    # File pages (each runs its function when Streamlit executes it), so that AppTest can
    # switch between them like a browser does.
    page = st.navigation(
        [
            st.Page(_HERE / "chat_page.py", title="Chat", icon=":material/forum:", default=True),
            st.Page(
                _HERE / "documents_page.py",
                title="Documents",
                icon=":material/folder_open:",
                url_path="documents",
            ),
        ]
    )
    with st.sidebar:
        st.title(":material/forum: msrag")
        signin.who_panel(settings, user)
        store_box = st.container()
    page.run()
    if engine is not None:
        with st.sidebar:
            library.library_panel(engine, user)

    # Drawn after the page so it counts this run's uploads and deletions.
    with store_box:
        if engine is None:
            st.warning("The store is not open: see the message.", icon=":material/warning:")
        else:
            try:
                components.store_panel(engine.stats(user.access), engine.llm_label)
            except Exception as exc:  # a server that went away after start
                log.warning("store stats failed: %s", exc)
                st.warning(markup.escape_markdown(str(exc)), icon=":material/warning:")


main()
