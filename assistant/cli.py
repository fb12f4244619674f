"""The assistant layer's commands: `msrag ask` and `msrag chat`."""

from __future__ import annotations

from typing import Annotated

import typer

from retrieval.console import (
    ModeOption,
    TopKOption,
    VerboseOption,
    err,
    load_settings,
    opened_retriever,
    out,
    user_errors,
)


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
) -> None:
    """Answer QUESTION from the ingested documents, streamed, with cited sources."""
    from assistant.chat import Assistant
    from assistant.terminal import stream_turn

    settings = load_settings()
    with user_errors(), opened_retriever(settings) as retriever:
        answer = stream_turn(
            Assistant(settings, retriever),
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
) -> None:
    """Interactive chat with history (follow-up questions work). Empty line or Ctrl-D to quit."""
    from assistant.chat import Assistant
    from assistant.terminal import chat_loop

    settings = load_settings()
    with user_errors(), opened_retriever(settings) as retriever:
        chat_loop(
            Assistant(settings, retriever),
            console=out,
            err=err,
            verbose=verbose,
            mode=mode,
            top_k=top_k,
        )
