"""`msrag docs list|show|delete|reingest|grant|revoke`: the document library in the terminal.

A typer sub-app of its own: listing and reading documents, and changing them — delete, re-ingest,
and grant or revoke the groups that may see one. Every command reads payload indexes only (see
`retrieval/ingest/library.py`). The changes go through the admin service (`teams/admin.py`) as
the local operator, an admin named `cli:<account>` in the audit log: the service checks the
rights and writes the audit entry, as it does for the Documents page.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from msrag.console import (
    err,
    load_settings,
    opened_retriever,
    operator_name,
    out,
    user_errors,
)
from msrag.settings import Settings
from retrieval.errors import EXIT_OK, EXIT_PARTIAL
from teams.identity import User

if TYPE_CHECKING:
    from retrieval.retriever import MultiStageRetriever
    from teams.admin import Admin

docs_app = typer.Typer(
    help="The documents in the store: list, show one's chunks, delete, re-ingest, and grant or "
    "revoke the groups that may see one.",
    no_args_is_help=True,
)

SORT_KEYS = ("source", "title", "chunks", "pages", "size", "ingested")
SourceArgument = Annotated[str, typer.Argument(help="The document's source, as `docs list` shows.")]


def register(app: typer.Typer) -> None:
    """Add `msrag docs …` to the root app."""
    app.add_typer(docs_app, name="docs")


def operator() -> User:
    """Who changes the library from the command line: the local account, an admin (whoever can
    run `msrag` owns the store's files anyway), named `cli:<account>` in the audit log."""
    return User(operator_name(), admin=True)


def _admin(settings: Settings, retriever: MultiStageRetriever) -> Admin:
    """The admin service over the opened store and encoders."""
    from teams.admin import Admin
    from teams.audit import AuditLog

    return Admin(retriever.store, retriever.encoders, settings, AuditLog.from_settings(settings))


@docs_app.command("list")
def list_(
    filter_: Annotated[
        str | None,
        typer.Option("--filter", "-f", help="Only documents whose source or title contains this."),
    ] = None,
    sort: Annotated[
        str, typer.Option(help=f"Sort by: {', '.join(SORT_KEYS)} (prefix '-' for descending).")
    ] = "source",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every stored document: source, title, chunks, pages, size, ingested at, content hash."""
    from retrieval.ingest.library import documents, human_size, sort_documents

    settings = load_settings()
    with user_errors(), opened_retriever(settings) as retriever:
        rows = sort_documents(documents(retriever.store), sort, filter_ or "")
    if as_json:
        out.print_json(json.dumps([asdict(r) for r in rows]))
        return
    table = Table("source", "title", "chunks", "pages", "size", "ingested (UTC)", "content hash")
    for r in rows:
        table.add_row(
            escape(r.source),
            escape(r.title),
            str(r.chunks),
            "—" if r.pages is None else str(r.pages),
            human_size(r.size_bytes),
            (r.ingested_at or "—")[:19].replace("T", " "),
            r.content_hash[:12],
        )
    out.print(table)
    err.print(f"{len(rows)} documents, {sum(r.chunks for r in rows)} chunks")


@docs_app.command()
def show(source: SourceArgument) -> None:
    """One document's chunks in order, with their page/heading, and the text."""
    from retrieval.ingest.library import chunks_of, document, human_size

    settings = load_settings()
    with user_errors(), opened_retriever(settings) as retriever:
        info = document(retriever.store, source)
        chunks = chunks_of(retriever.store, source)
    out.print(f"[bold]{escape(info.title)}[/bold] — {escape(info.source)}")
    out.print(
        f"{info.chunks} chunks · {human_size(info.size_bytes)} · ingested "
        f"{(info.ingested_at or '—')[:19].replace('T', ' ')} · {info.content_hash[:12]}"
    )
    for chunk in chunks:
        where = f" · {escape(chunk.location)}" if chunk.location else ""
        out.print(f"\n[bold]#{chunk.chunk_index}[/bold]{where}")
        out.print(chunk.text, markup=False, highlight=False)


@docs_app.command()
def delete(
    source: SourceArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask first.")] = False,
) -> None:
    """Delete a document (all its chunks). Asks first unless --yes."""
    from retrieval.ingest.library import document

    settings = load_settings()
    with user_errors(), opened_retriever(settings) as retriever:
        info = document(retriever.store, source)
        if not yes and not typer.confirm(
            f"Delete {info.source} ({info.chunks} chunks) from the store?", err=True
        ):
            err.print("Nothing deleted.")
            raise typer.Exit(EXIT_PARTIAL)
        removed = _admin(settings, retriever).delete(operator(), source)
    out.print(f"Deleted {escape(source)} ({removed} chunks).")


@docs_app.command()
def reingest(source: SourceArgument) -> None:
    """Read the document's file again and store it (unchanged files are left as they are)."""
    settings = load_settings()
    with user_errors(), opened_retriever(settings) as retriever:
        result = _admin(settings, retriever).reingest(operator(), source, Path.cwd())
    detail = f": {result.reason}" if result.reason else f" ({result.chunks} chunks)"
    out.print(f"{escape(result.path)} — {result.status}{escape(detail)}")
    raise typer.Exit(EXIT_OK if result.status in ("ingested", "unchanged") else EXIT_PARTIAL)


# --- docs: access groups -------------------------------------------------------------------------
SourcesArgument = Annotated[
    list[str], typer.Argument(help="Documents by source, as `msrag search` shows them.")
]
GroupsOption = Annotated[str, typer.Option(help="Comma-separated groups, e.g. hr,legal.")]


@docs_app.command("grant")
def docs_grant(sources: SourcesArgument, groups: GroupsOption) -> None:
    """Let GROUPS see these documents (added to the groups they have). A payload update: no
    re-encoding. A document for everyone becomes one for these groups only."""
    _change_groups(sources, groups, grant=True)


@docs_app.command("revoke")
def docs_revoke(
    sources: SourcesArgument,
    groups: GroupsOption,
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="Allow revoking a document's last group, which makes it public (everyone may "
            "see it). Without it such a revoke is refused.",
        ),
    ] = False,
) -> None:
    """Stop GROUPS from seeing these documents. Revoking a document's last group makes it
    public, so that needs --public (refused otherwise)."""
    _change_groups(sources, groups, grant=False, public=public)


def _change_groups(sources: list[str], groups: str, *, grant: bool, public: bool = False) -> None:
    from retrieval.access import group_names

    settings = load_settings()
    with user_errors(), opened_retriever(settings) as retriever:
        names = group_names(groups)  # a bad name stops the command before any document changes
        admin, who = _admin(settings, retriever), operator()
        for source in sources:
            if grant:
                now = admin.grant(who, source, names)
            else:
                now = admin.revoke(who, source, names, public=public)
            out.print(f"{source}: {', '.join(now) or 'everyone'}")
