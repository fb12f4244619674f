"""What every layer's commands share: the consoles, settings at the edge, and one rule that turns
the product's errors into a sentence and an exit code.

Every command lives in `msrag/commands/` (one module per layer it serves); the root `msrag` app
(`msrag/cli.py`) only composes them. The library packages below import neither typer nor this
module: commands sit on top of the library, never inside it.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from msrag.settings import Settings
from retrieval.errors import EXIT_INTERRUPTED, EXIT_USAGE, MsragError
from retrieval.modes import MODES
from teams.errors import GroupsFileError
from teams.identity import Identities, User

if TYPE_CHECKING:
    from retrieval.retriever import MultiStageRetriever

out = Console()
err = Console(stderr=True)

ModeOption = Annotated[
    str | None,
    typer.Option("--mode", "-m", help=f"Retrieval mode: {', '.join(MODES)}. Default: MSRAG_MODE."),
]
TopKOption = Annotated[int | None, typer.Option("--top-k", "-k", min=1, help="Passages to return.")]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Show per-stage timings.")]
AsOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="See only what USER may see (their groups from MSRAG_GROUPS_FILE): check someone "
        "else's view of the library.",
        metavar="USER",
    ),
]


def caller(settings: Settings, as_user: str | None) -> User | None:
    """Whose view a command runs with: `--as USER` from the groups file, or None for the local
    operator (unrestricted, as the store's files are theirs anyway)."""
    if as_user is None:
        return None
    if settings.groups_file is None:
        raise GroupsFileError(
            "--as needs a groups file to know USER's groups: set MSRAG_GROUPS_FILE "
            "(see docs/guide/teams.md)."
        )
    return Identities(settings).user(as_user)


def operator_name(as_user: str | None = None) -> str:
    """Who the audit log names for a command: the local account (and whose view it took)."""
    local = f"cli:{getpass.getuser()}"
    return f"{local} as {as_user}" if as_user else local


def load_settings() -> Settings:
    """The one `Settings` object, from the environment and `./.env`; a bad value exits 2."""
    try:
        return Settings()
    except Exception as exc:  # pydantic's ValidationError names the bad variable
        err.print(f"[red]Invalid configuration:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from exc


@contextmanager
def user_errors() -> Iterator[None]:
    """The product's errors become one red sentence and their exit code (see `retrieval.errors`).

    Anything else propagates with its traceback: it is a bug, and hiding it would not help.
    """
    try:
        yield
    except MsragError as exc:
        err.print(f"[red]Error:[/red] {escape(str(exc))}")
        raise typer.Exit(exc.exit_code) from exc
    except KeyboardInterrupt:
        err.print(
            "[yellow]Interrupted.[/yellow] Nothing stored so far is lost; run again to resume."
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None


@contextmanager
def opened_retriever(settings: Settings) -> Iterator[MultiStageRetriever]:
    """The configured retriever (models + store), closed on the way out: the embedded store's
    directory lock must be released even when the command fails."""
    from retrieval.retriever import MultiStageRetriever

    with err.status("Loading models and opening the store…"):
        retriever = MultiStageRetriever.from_settings(settings)
    try:
        yield retriever
    finally:
        retriever.close()


def print_table(table: Table, console: Console | None = None) -> None:
    """A table with nothing cut: in a terminal it fits the window (callers let identifying
    columns wrap); in a pipe or a log — where rich would assume 80 columns and shorten cells to
    "hybr…" — it is printed at its natural width."""
    console = console or out
    if console.is_terminal:
        console.print(table)
        return
    natural = Measurement.get(console, console.options.update(max_width=10_000), table).maximum
    Console(file=console.file, width=max(natural, console.width), color_system=None).print(table)
