"""The retrieval layer's commands tell the truth: incomplete documents, where the time went, one
message for the offline models, tables that keep their identifying column in a pipe."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from msrag.cli import app
from msrag.settings import Settings
from retrieval.encoders import Encoders
from retrieval.ingest.chunking import chunk_document
from retrieval.ingest.loaders import load
from retrieval.ingest.offline import OfflineModels
from retrieval.ingest.pipeline import ingest_chunks, stored_documents
from retrieval.stores import open_store
from tests.conftest import DEMO_DOCS

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path, offline_model_dirs: OfflineModels, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("QDRANT_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text(
        "\n".join([*offline_model_dirs.settings_lines(), f"MSRAG_DATA_DIR={tmp_path / 'data'}"])
        + "\n"
    )
    shutil.copytree(DEMO_DOCS, tmp_path / "docs")
    return tmp_path


def test_status_shows_a_half_ingested_document_as_incomplete(
    project: Path, encoders: Encoders
) -> None:
    result = runner.invoke(app, ["ingest", "docs/ada_lovelace.md"])
    assert result.exit_code == 0, result.output
    # an ingest killed after 1 of the handbook's chunks: what the store then holds
    settings = Settings()
    doc = load(Path("docs/northwind_handbook.md"))
    chunks = chunk_document(doc, 60, 8)  # small chunks: the handbook makes several
    assert len(chunks) >= 3 and chunks[0].chunk_count == len(chunks)
    store = open_store(settings, encoders.configured(settings).layout(settings))
    try:
        ingest_chunks(chunks[:1], store, encoders.configured(settings), progress=False)
        by_source = {d.source: d for d in stored_documents(store)}
    finally:
        store.close()
    handbook = by_source["docs/northwind_handbook.md"]
    assert (handbook.chunks, handbook.expected, handbook.complete) == (1, len(chunks), False)
    assert by_source["docs/ada_lovelace.md"].complete

    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert "(1 incomplete)" in result.output
    assert f"docs/northwind_handbook.md: 1 of {len(chunks)} chunks" in result.output


def test_ingest_summary_counts_model_loading_apart(project: Path) -> None:
    result = runner.invoke(app, ["ingest", "docs/office_plants.txt"])
    assert result.exit_code == 0, result.output
    summary = result.output.strip().splitlines()[-1]
    assert "1 ingested" in summary
    # "… in 0.4 s (+6.1 s loading models; 2.3 chunks/s, 2.50 docs/s)"
    assert " s (+" in summary and " s loading models; " in summary


def test_models_offline_prints_one_message(project: Path, offline_model_dirs) -> None:
    root = str(offline_model_dirs.root)
    written = runner.invoke(app, ["models", "offline", root, "--write-env", "x.env"])
    assert written.exit_code == 0, written.output
    assert "Wrote these settings to x.env:" in written.output
    assert "append" not in written.output and "Updated" not in written.output
    printed = runner.invoke(app, ["models", "offline", root])
    assert "Settings (append them to .env):" in printed.output
    assert printed.output.count(f"MSRAG_DENSE_MODEL={offline_model_dirs.minilm}") == 1


# --- output in a pipe: nothing identifying is cut -----------------------------------------------


def test_ingest_table_keeps_long_file_names_whole_in_a_pipe(project: Path) -> None:
    deep = project / "docs" / "quarterly-reports-for-the-board" / "2026"
    deep.mkdir(parents=True)
    bad = deep / "northwind-kites-annual-report-final-version-approved-by-legal.md"
    bad.write_text("")
    result = runner.invoke(app, ["ingest", "docs/quarterly-reports-for-the-board"])
    assert result.exit_code == 1, result.output
    name = "docs/quarterly-reports-for-the-board/2026/" + bad.name
    assert any(name in line and "empty file" in line for line in result.output.splitlines())
    assert "…" not in result.output


def test_search_prints_each_passage_on_one_line_in_a_pipe(project: Path) -> None:
    assert runner.invoke(app, ["ingest", "docs/ada_lovelace.md"]).exit_code == 0
    result = runner.invoke(app, ["search", "When was Ada Lovelace born?", "-k", "2"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("1. Ada Lovelace (docs/ada_lovelace.md")
    assert lines[1].startswith("   ") and lines[2].startswith("2. ")  # heading, text, heading


def test_eval_in_a_pipe_names_every_mode_and_prints_no_escape_codes(
    project: Path, offline_model_dirs: OfflineModels
) -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import REPO
    from tests.retrieval.ingest.helpers import write_beir

    data = write_beir(
        project / "tiny",
        {
            "d1": ("Lighthouses", "A lighthouse guides ships with a light."),
            "d2": ("Bread", "Sourdough bread rises with wild yeast."),
        },
        {"q1": "what guides ships at night", "q2": "how does sourdough rise"},
        [("q1", "d1", 1), ("q2", "d2", 1)],
    )
    modes = ["hybrid", "hybrid+colbert", "hybrid+colbert+rrf"]
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "NUMBA_CACHE_DIR": str(project / "numba"),  # ranx's functions compile afresh
        "COLUMNS": "80",
    }
    result = subprocess.run(
        [sys.executable, "-m", "msrag", "eval", str(data), *[a for m in modes for a in ("-m", m)]],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows] == modes
    assert "\x1b[" not in result.stdout + result.stderr
    # said up front, and progress as plain lines (stderr is a pipe here, not a terminal)
    assert "Indexing 2 documents once, ~1 min on" in result.stderr
    assert "later runs reuse it" in result.stderr
    assert "Encoding + storing: 2/2 chunks (100%)" in result.stderr


def test_the_plot_names_modes_in_a_legend_not_on_top_of_each_other() -> None:
    from retrieval.ingest.evaluate import ModeResult, quality_latency_figure

    results = {
        m: ModeResult(m, {"ndcg@10": 0.72, "recall@10": 0.8, "recall@100": 0.95, "mrr@10": 0.7})
        for m in ("hybrid", "hybrid+colbert", "hybrid+colbert+rrf")
    }
    for r in results.values():
        r.encode_ms, r.search_ms = (
            [5.0, 6.0],
            [10.0, 11.0],
        )  # the same latency: labels would overlap
    fig = quality_latency_figure(results)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(results)
    assert not ax.texts  # no labels drawn at the points
