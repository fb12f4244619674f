"""The assistant layer's commands: `msrag ask` and `msrag chat`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from msrag.console import (
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
from msrag.settings import Settings
from retrieval.errors import EXIT_OK, EXIT_PARTIAL, EXIT_UPSTREAM, EXIT_USAGE

if TYPE_CHECKING:
    from assistant.chat import Assistant
    from assistant.types import Answer
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
    from msrag.terminal import stream_turn

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
    raise typer.Exit(exit_code_for(answer))


def exit_code_for(answer: Answer) -> int:
    """The exit-code table (docs/reference/exit-codes.md) applied to one answer."""
    if answer.ok:
        return EXIT_OK  # answered, refused or extractive: the command did its job
    if answer.partial:
        return EXIT_PARTIAL  # text arrived, then the stream broke or hit the token limit
    if answer.error_kind == "budget":
        return EXIT_USAGE  # the configured context window leaves no room for passages
    return EXIT_UPSTREAM  # the language model failed before any text


def chat(
    conversation: Annotated[
        int | None,
        typer.Argument(help="With --resume: the conversation to continue (default: the latest)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue a saved conversation (ID or the latest).")
    ] = False,
    list_: Annotated[
        bool, typer.Option("--list", help="List saved conversations, newest first, and exit.")
    ] = False,
    export: Annotated[
        int | None,
        typer.Option("--export", metavar="ID", help="Print conversation ID as Markdown and exit."),
    ] = None,
    mode: ModeOption = None,
    top_k: TopKOption = None,
    verbose: VerboseOption = False,
    as_user: AsOption = None,
) -> None:
    """Interactive chat with history. Empty line or Ctrl-D to quit; /reset starts over.

    Follow-up questions ("What did she write?") need a language model (OPENAI_API_KEY or
    OPENAI_BASE_URL), which rewrites them into standalone questions; without one every question
    is answered on its own, extractively. Every turn is saved (MSRAG_CONVERSATIONS_DB), shared
    with the browser chat.
    """
    from assistant.conversations import ConversationStore, HistoryError
    from msrag.saved_chat import Recorder, conversations_table, latest, require
    from msrag.saved_chat import export as export_markdown

    settings = load_settings()
    if list_ or export is not None:
        with user_errors(), ConversationStore(settings.conversations_path) as saved:
            if export is not None:
                out.print(export_markdown(saved, export), markup=False, highlight=False, end="")
            else:
                out.print(conversations_table(saved))
        return
    if conversation is not None and not resume:
        err.print("[red]Error:[/red] give --resume with a conversation id: msrag chat --resume ID")
        raise typer.Exit(EXIT_USAGE)

    from msrag.terminal import chat_loop

    try:
        store: ConversationStore | None = ConversationStore(settings.conversations_path)
    except HistoryError as exc:
        if resume:
            err.print(f"[red]Error:[/red] {escape(str(exc))}")
            raise typer.Exit(exc.exit_code) from exc
        err.print(f"[yellow]{escape(str(exc))}[/yellow] [dim](this chat is not saved)[/dim]")
        store = None
    try:
        with user_errors():
            resumed = None
            if resume and store is not None:
                resumed = conversation if conversation is not None else latest(store)
                require(store, resumed)
            with opened_retriever(settings) as retriever:
                assistant = _assistant(settings, retriever, as_user)
                label = assistant.llm.model if assistant.llm else "no LLM — extractive answers"
                recorder = Recorder(
                    store, resumed, top_k=top_k or settings.top_k, model_label=label, err=err
                )
                earlier = recorder.history
                if earlier:
                    err.print(
                        f"[dim]Continuing conversation {resumed} ({len(earlier) // 2} earlier "
                        "turns).[/dim]"
                    )
                chat_loop(
                    assistant,
                    console=out,
                    err=err,
                    verbose=verbose,
                    history=earlier,
                    on_answer=recorder.save,
                    on_reset=recorder.reset,
                    mode=mode,
                    top_k=top_k,
                )
    finally:
        if store is not None:
            store.close()


def _assistant(
    settings: Settings, retriever: MultiStageRetriever, as_user: str | None
) -> Assistant:
    """The assistant for this command's caller: `--as USER` sees only what USER may see; every
    turn goes to the audit log."""
    from assistant.audited import audited
    from assistant.chat import Assistant
    from teams.audit import AuditLog
    from teams.identity import User

    who = caller(settings, as_user)
    if who is not None and who.access is not None:
        retriever = retriever.restricted_to(who.access)
    user = User(operator_name(as_user), who.groups if who else (), who is None or who.admin)
    return audited(Assistant(settings, retriever), AuditLog.from_settings(settings), user)
