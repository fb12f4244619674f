"""The assistant layer's commands: `msrag ask` and `msrag chat`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from retrieval.console import (
    AsOption,
    ModeOption,
    TopKOption,
    VerboseOption,
    caller,
    err,
    load_settings,
    opened_retriever,
    operator_name,
    out,
    user_errors,
)
from retrieval.settings import Settings

if TYPE_CHECKING:
    from assistant.chat import Assistant
    from retrieval.retriever import MultiStageRetriever


def register(app: typer.Typer) -> None:
    """Add this layer's commands to the root app."""
    app.command()(ask)
    app.command()(chat)


# --- ask / chat ----------------------------------------------------------------------------------
def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    mode: ModeOption = None,
    top_k: TopKOption = None,
    verbose: VerboseOption = False,
    as_user: AsOption = None,
) -> None:
    """Answer QUESTION from the ingested documents, streamed, with cited sources."""
    from assistant.terminal import stream_turn

    settings = load_settings()
    with user_errors(), opened_retriever(settings) as retriever:
        answer = stream_turn(
            _assistant(settings, retriever, as_user),
            question,
            console=out,
            err=err,
            verbose=verbose,
            mode=mode,
            top_k=top_k,
        )
    raise typer.Exit(0 if answer.ok else 1)


def chat(
    mode: ModeOption = None,
    top_k: TopKOption = None,
    verbose: VerboseOption = False,
    as_user: AsOption = None,
) -> None:
    """Interactive chat with history (follow-up questions work). Empty line or Ctrl-D to quit."""
    from assistant.terminal import chat_loop

    settings = load_settings()
    with user_errors(), opened_retriever(settings) as retriever:
        chat_loop(
            _assistant(settings, retriever, as_user),
            console=out,
            err=err,
            verbose=verbose,
            mode=mode,
            top_k=top_k,
        )


def _assistant(
    settings: Settings, retriever: MultiStageRetriever, as_user: str | None
) -> Assistant:
    """The assistant for this command's caller: `--as USER` sees only what USER may see; every
    turn goes to the audit log."""
    from assistant.audited import audited
    from assistant.chat import Assistant
    from assistant.identity import User
    from retrieval.audit import AuditLog

    who = caller(settings, as_user)
    if who is not None and who.access is not None:
        retriever = retriever.restricted_to(who.access)
    user = User(operator_name(as_user), who.groups if who else (), who is None or who.admin)
    return audited(Assistant(settings, retriever), AuditLog.from_settings(settings), user)
