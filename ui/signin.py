"""Who is using the page, per `MSRAG_AUTH`, and the page shown to nobody.

Access is decided here, once per script run, and handed to the engine as a `User`; the engine
restricts the retriever (`assistant_for`) so the store itself never returns a forbidden passage
— nothing is hidden by the page alone.

- `none`: the one local user (everything, admin).
- `header`: the user in `MSRAG_AUTH_HEADER` (`st.context.headers`), set by the reverse proxy.
  No header, a header sent more than once, or a reserved name (`local`, anything with a `:`) →
  the sign-in-required page and nothing else. The page also refuses to run on a non-loopback
  address without `MSRAG_TRUSTED_PROXY=true` (as `msrag ui` does before starting).
- `oidc`: Streamlit's `st.login()` / `st.user` with the provider in `.streamlit/secrets.toml`.

Every refused sign-in is an audit entry (`denied`, with the reason); a user's first run in a
browser session is one too (`sign-in`).
"""

from __future__ import annotations

from typing import NoReturn

import streamlit as st

from regress.settings import RegressSettings
from retrieval.errors import MsragError
from teams.audit import AuditLog
from teams.errors import SignInRefusedError, UnsafeBindError
from teams.identity import Identities, User, check_bind
from ui import markup

REPEATED_HEADER = (
    "The request named its user more than once (the sign-in header was repeated), so it was "
    "refused: a sign-in proxy sends it once, and guessing which value counts could sign in the "
    "wrong person."
)


def current_user(settings: RegressSettings, identities: Identities) -> User | None:
    """The signed-in user, or None when nobody is (header missing, not logged in).
    `SignInRefusedError` for a sign-in the page refuses (a repeated header, a reserved name)."""
    if settings.auth == "none":
        return identities.local()
    if settings.auth == "header":
        # st.context.headers itself, not a dict of it: its get_all() sees a repeated header
        headers = st.context.headers
        if not any(k.lower() == settings.auth_header.lower() for k in headers):
            return None
        return identities.sign_in(headers)
    if not st.user.is_logged_in:
        return None
    email = st.user.get("email") or st.user.get("sub")
    return identities.signed_in(str(email), "oidc") if email else None


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
    audit = AuditLog.from_settings(settings)
    try:
        check_bind(settings, st.get_option("server.address") or "0.0.0.0")
        user = current_user(settings, identities)
    except UnsafeBindError as exc:
        _stop("The assistant is not safely exposed", str(exc))
    except SignInRefusedError as exc:
        _refused(audit, settings, exc)
        _stop(
            "Sign-in refused",
            REPEATED_HEADER
            if exc.kind == "repeated"
            else "This account cannot use the assistant: its name is reserved or not valid. "
            "Ask the administrator for access.",
        )
    except MsragError as exc:  # an unreadable groups file: nobody gets in until it is fixed
        _stop("Sign-in is not available", str(exc))
    if user is None:
        _refused(audit, settings, None)
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
    if isinstance(previous, User) and previous.key != user.key:
        for key in list(ss.keys()):
            del ss[key]
    if not (isinstance(previous, User) and previous.key == user.key) and settings.auth != "none":
        audit.record(user.name, "sign-in", f"signed in ({settings.auth})", groups=user.groups)
    ss[SESSION_KEY] = user
    return user


def _refused(
    audit: AuditLog, settings: RegressSettings, refusal: SignInRefusedError | None
) -> None:
    """A refused sign-in, in the audit log: who they claimed to be, and why."""
    if refusal is None:
        if settings.auth == "oidc":  # not signed in yet: the sign-in button, not a refusal
            return
        claimed, reason = "", f"the request has no {settings.auth_header} header"
    else:
        claimed, reason = refusal.claimed, refusal.reason
    audit.record(claimed or "(nobody)", "denied", f"sign-in ({settings.auth}): {reason}")


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
