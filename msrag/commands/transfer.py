"""`msrag export` / `msrag import`: move the store to a Qdrant server or a file, and back.

Both sides keep the stored vectors (nothing is re-encoded, no models are loaded); the logic is
`retrieval/ingest/transfer.py`, this module only parses options and prints.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from msrag.console import err, load_settings, out, user_errors
from msrag.settings import Settings
from retrieval.errors import EXIT_PARTIAL

CollectionOption = Annotated[
    str | None,
    typer.Option(help="Collection on the server named by the URL (default: MSRAG_COLLECTION)."),
]


def register(app: typer.Typer) -> None:
    """Add `export` and `import` to the root app."""
    app.command("export")(export)
    app.command("import")(import_)


def export(
    to: Annotated[
        str,
        typer.Option(
            "--to", help="A Qdrant URL (http://host:6333; key: QDRANT_API_KEY) or a file path."
        ),
    ],
    collection: CollectionOption = None,
) -> None:
    """Copy the store to a Qdrant server or a file (no re-encoding), then verify the copy.

    The source is the configured store: the embedded one unless QDRANT_URL is set. Resumable:
    after an interruption, run the same command again.

        msrag export --to http://qdrant.internal:6333
        msrag export --to backup.msrag.jsonl
    """
    settings = load_settings()
    _run(settings, None, to, collection)


def import_(
    source: Annotated[
        str, typer.Argument(help="A Qdrant URL (key: QDRANT_API_KEY) or a file from export.")
    ],
    collection: CollectionOption = None,
) -> None:
    """Copy a Qdrant server's collection or an export file into the store, then verify it.

    The target is the configured store; to bring a server's collection to a laptop's embedded
    store, leave QDRANT_URL unset. Resumable like export.

        msrag import http://qdrant.internal:6333
        msrag import backup.msrag.jsonl
    """
    settings = load_settings()
    _run(settings, source, None, collection)


def _run(
    settings: Settings, source: str | None, target: str | None, collection: str | None
) -> None:
    from retrieval.ingest.transfer import checkpoint_path, open_endpoint, transfer

    with user_errors():
        src = open_endpoint(settings, source, collection).open_existing()
        dst = open_endpoint(settings, target, collection)
        try:
            checkpoint = checkpoint_path(settings, src, dst)
            columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn())
            with Progress(*columns, TimeElapsedColumn(), console=err, transient=True) as bar:
                task = bar.add_task("Copying points", total=src.count())
                report = transfer(
                    src,
                    dst,
                    checkpoint=checkpoint,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        finally:
            dst.close()
            src.close()
    table = Table(show_header=False, box=None)
    table.add_row("from", report.source)
    table.add_row("to", report.target)
    table.add_row("points", f"{report.source_count} → {report.target_count}")
    if report.resumed_after:
        table.add_row("resumed", f"after {report.resumed_after} points of an earlier run")
    table.add_row("time", f"{report.seconds:.1f} s")
    if report.verified:
        table.add_row(
            "verified", f"{report.verified} sampled queries × {', '.join(report.modes)}: top-10"
        )
    out.print(table)
    if not report.ok:
        for line in report.mismatches[:10]:
            err.print(f"  {line}")
        err.print(
            f"[red]Verification failed:[/red] {report.source_count} points in the source, "
            f"{report.target_count} in the target, {len(report.mismatches)} rankings differ; "
            "run the command again, and if it persists check the target's configuration."
        )
        raise typer.Exit(EXIT_PARTIAL)
    err.print("[green]Done: the counts match and the sampled rankings are identical.[/green]")
