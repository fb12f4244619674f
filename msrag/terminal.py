"""A chat turn in the terminal: stream the answer as it arrives, then list the sources.

What `msrag ask` and `msrag chat` call; kept apart from the CLI's argument parsing so that it can
be tested with a recording console.

    from rich.console import Console
    answer = stream_turn(assistant, "Who was Ada Lovelace?", console=Console())
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape

from assistant.chat import Assistant
from assistant.types import (
    UNCITED_NOTICE,
    Answer,
    ChatMessage,
    CitationEvent,
    DoneEvent,
    Source,
    StageEvent,
    TextEvent,
    Timings,
)
from retrieval.errors import QueryTooLongError
from retrieval.types import Filter

EXIT_WORDS = frozenset({"exit", "quit", ":q", "/exit", "/quit"})
RESET_WORDS = frozenset({"/reset", "/new", "/clear"})


def stream_turn(
    assistant: Assistant,
    question: str,
    history: Sequence[ChatMessage] = (),
    *,
    console: Console,
    err: Console | None = None,
    verbose: bool = False,
    mode: str | None = None,
    top_k: int | None = None,
    filter: Filter | None = None,
) -> Answer:
    """Print one turn as it streams; return its `Answer`. Errors go to `err` (default stderr)."""
    err = err or Console(stderr=True)
    answer: Answer | None = None
    wrote = False
    status = err.status("Retrieving…") if err.is_terminal else None
    if status is not None:
        status.start()
    try:
        for event in assistant.stream(question, history, mode=mode, top_k=top_k, filter=filter):
            if isinstance(event, StageEvent) and status is not None:
                status.update(
                    {
                        "condense": "Reading the conversation…",
                        "retrieve": "Retrieving…",
                        "generate": "Waiting for the model…",
                    }[event.stage]
                )
            elif isinstance(event, (TextEvent, CitationEvent)):
                if status is not None:
                    status.stop()
                    status = None
                if isinstance(event, TextEvent):
                    # model text is data: never interpret it as rich markup
                    console.print(event.text, end="", markup=False, highlight=False)
                else:
                    console.print(f"[bold cyan]{escape(event.marker)}[/]", end="")
                wrote = True
            elif isinstance(event, DoneEvent):
                answer = event.answer
    finally:
        if status is not None:
            status.stop()
    assert answer is not None
    if wrote:
        console.print()
    print_outcome(answer, console=console, err=err, verbose=verbose)
    return answer


def print_outcome(answer: Answer, *, console: Console, err: Console, verbose: bool = False) -> None:
    """After the text: the error if any, the cited sources, and (verbose) timings and uncited."""
    if answer.error:
        label = "Answer cut short" if answer.partial else "No answer"
        err.print(f"[yellow]{label}:[/yellow] {escape(answer.error)}")
    if answer.sources:
        console.print()
        console.print("[bold]Sources[/bold]")
        for source in answer.sources:
            console.print(source_line(source))
    elif answer.cites_nothing:
        # on stdout with the answer: whoever reads the answer (or a file of it) sees the warning
        console.print()
        console.print(f"[bold yellow]{UNCITED_NOTICE}[/bold yellow]")
        console.print("[bold]Passages sent[/bold]")
        for source in answer.uncited:
            console.print(source_line(source))
    if answer.invalid_citations:
        err.print(
            f"[dim]Removed citation markers that matched no passage: "
            f"{', '.join(map(str, answer.invalid_citations))}[/dim]"
        )
    if verbose:
        if answer.standalone_question != answer.question:
            err.print(f"[dim]Standalone question: {escape(answer.standalone_question)}[/dim]")
        if answer.uncited and not answer.cites_nothing:
            err.print("[dim]Also sent, not cited:[/dim]")
            for source in answer.uncited:
                err.print(source_line(source, dim=True))
        if answer.top_score is not None:
            limit = "none" if answer.threshold is None else f"{answer.threshold:.3f}"
            err.print(f"[dim]Top relevance {answer.top_score:.3f} (threshold {limit})[/dim]")
        err.print(f"[dim]{timings_line(answer.timings, answer.mode)}[/dim]")


def source_line(source: Source, dim: bool = False) -> str:
    where = escape(source.source)
    if source.location:
        where += f", {escape(source.location)}"
    cut = " (cut to fit)" if source.truncated else ""
    line = (
        f"[bold cyan]\\[{source.number}][/bold cyan] {escape(source.title or source.doc_id)} — "
        f"{where}{cut}  [dim]score {source.score:.3f}[/dim]"
    )
    return f"[dim]{line}[/dim]" if dim else line


def timings_line(t: Timings, mode: str = "") -> str:
    parts = []
    if t.condense_ms:
        parts.append(f"condense {t.condense_ms:.0f} ms")
    parts.append(
        f"retrieve {t.retrieve_ms:.0f} ms (encode {t.encode_ms:.0f}, search {t.search_ms:.0f})"
    )
    parts.append(f"pack {t.pack_ms:.1f} ms")
    parts.append(f"first token {t.first_token_ms:.0f} ms")
    if t.generate_ms:
        parts.append(f"generate {t.generate_ms:.0f} ms")
    if t.tokens_per_s:
        parts.append(f"{t.tokens_per_s:.1f} tokens/s")
    parts.append(f"total {t.total_ms:.0f} ms")
    return (f"{mode}: " if mode else "") + ", ".join(parts)


def chat_loop(
    assistant: Assistant,
    *,
    console: Console,
    err: Console | None = None,
    read: Callable[[str], str] | None = None,
    verbose: bool = False,
    history: Sequence[ChatMessage] = (),
    on_answer: Callable[[Answer], None] | None = None,
    on_reset: Callable[[], None] | None = None,
    **search: Any,
) -> list[ChatMessage]:
    """Ask, answer, repeat, with history. Ends on exit/quit, an empty line or Ctrl-D.

    `/reset` starts a new conversation. `history` continues an earlier conversation;
    `on_answer` sees every answer (to save it), `on_reset` every `/reset`. Returns the history
    (for tests and callers).
    """
    err = err or Console(stderr=True)
    read = read or (lambda prompt: console.input(prompt))
    history = list(history)
    mode = (
        "extractive answers, no language model: each question stands alone"
        if assistant.llm is None
        else (f"model {assistant.llm.model}")
    )
    err.print(
        f"[dim]Chat ({escape(mode)}). Empty line or 'exit' to leave, /reset to start over.[/dim]"
    )
    while True:
        try:
            question = read("[bold green]You:[/bold green] ").strip()
        except (EOFError, KeyboardInterrupt):
            console.print()
            break
        if not question or question.lower() in EXIT_WORDS:
            break
        if question.lower() in RESET_WORDS:
            history.clear()
            if on_reset is not None:
                on_reset()
            err.print("[dim]New conversation.[/dim]")
            continue
        try:
            answer = stream_turn(
                assistant, question, history, console=console, err=err, verbose=verbose, **search
            )
        except (ValueError, QueryTooLongError) as exc:  # the question, not the system
            err.print(f"[yellow]{escape(str(exc))}[/yellow]")
            continue
        if on_answer is not None:
            on_answer(answer)
        history += [ChatMessage("user", question), ChatMessage("assistant", answer.text)]
    return history
