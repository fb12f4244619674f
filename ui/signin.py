"""Who is using the page, per `MSRAG_AUTH`, and the page shown to nobody.

Access is decided here, once per script run, and handed to the engine as a `User`; the engine
restricts the retriever (`assistant_for`) so the store itself never returns a forbidden passage
— nothing is hidden by the page alone.

- `none`: the one local user (everything, admin).
- `header`: the user in `MSRAG_AUTH_HEADER` (`st.context.headers`), set by the reverse proxy.
  No header → the sign-in-required page and nothing else. The page also refuses to run on a
  non-loopback address without `MSRAG_TRUSTED_PROXY=true` (as `msrag ui` does before starting).
- `oidc`: Streamlit's `st.login()` / `st.user` with the provider in `.streamlit/secrets.toml`.
"""

from __future__ import annotations

from typing import NoReturn

import streamlit as st

from regress.settings import RegressSettings
from retrieval.errors import MsragError
from teams.errors import UnsafeBindError
from teams.identity import Identities, User, check_bind
from ui import markup


def current_user(settings: RegressSettings, identities: Identities) -> User | None:
    """The signed-in user, or None when nobody is (header missing, not logged in)."""
    if settings.auth == "none":
        return identities.local()
    if settings.auth == "header":
        return identities.from_headers(dict(st.context.headers))
    if not st.user.is_logged_in:
        return None
    email = st.user.get("email") or st.user.get("sub")
    return identities.user(str(email)) if email else None


SESSION_KEY = "msrag_user"


def session_user() -> User:
    """The user `gate` admitted in this script run (pages call this; the entry script gates)."""
    user = st.session_state.get(SESSION_KEY)
    if not isinstance(user, User):
        st.stop()  # not admitted: draw nothing
        raise AssertionError("st.stop() ends the run")
    return user


def gate(settings: RegressSettings, identities: Identities) -> User:
    """The user, or draw the sign-in-required page (and only it) and stop the run.

    Another user in the same browser session (a proxy that switched accounts) starts from a
    clean session: nothing of the previous user's page state survives."""
    try:
        check_bind(settings, st.get_option("server.address") or "0.0.0.0")
        user = current_user(settings, identities)
    except UnsafeBindError as exc:
        _stop("The assistant is not safely exposed", str(exc))
    except MsragError as exc:  # an unreadable groups file: nobody gets in until it is fixed
        _stop("Sign-in is not available", str(exc))
    if user is None:
        if settings.auth == "oidc":
            st.title("Sign-in required")
            st.write("Sign in with your organisation's account to use the assistant.")
            st.button("Sign in", on_click=st.login, type="primary")
            st.stop()
            raise AssertionError("st.stop() ends the run")
        _stop(
            "Sign-in required",
            "This assistant is only available after signing in through your organisation's "
            "sign-in page. Open it through that link, or ask the administrator for access.",
        )
    ss = st.session_state
    previous = ss.get(SESSION_KEY)
    if isinstance(previous, User) and previous.name != user.name:
        for key in list(ss.keys()):
            del ss[key]
    ss[SESSION_KEY] = user
    return user


def _stop(title: str, message: str) -> NoReturn:
    st.session_state.pop(SESSION_KEY, None)
    st.title(title)
    st.write(markup.escape_markdown(message))
    st.stop()
    raise AssertionError("st.stop() ends the run")


def who_panel(settings: RegressSettings, user: User) -> None:
    """The sidebar's line about the user: name, groups, admin."""
    if settings.auth == "none":
        st.caption("Single-user mode (MSRAG_AUTH=none): you see every document.")
        return
    groups = ", ".join(user.groups) or "no group (public documents only)"
    st.markdown(
        f":material/person: **{markup.escape_markdown(user.name)}**  \n"
        f"Groups: {markup.escape_markdown(groups)}"
        + ("  \n**Admin**: sees and manages every document" if user.admin else "")
    )
    if settings.auth == "oidc":
        st.button("Sign out", on_click=st.logout)
