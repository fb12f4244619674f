"""The `msrag` command line, run in-process with typer's runner against real models and store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from msrag.cli import app
from tests.conftest import DEMO_DOCS
from tests.retrieval.ingest.helpers import write_beir

runner = CliRunner()


def test_help_explains_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("ingest", "search", "ask", "chat", "eval", "reindex", "status", "ui", "models"):
        assert command in result.output


def test_models_offline_writes_env_lines_and_keeps_others(
    workdir: Path, offline_model_dirs
) -> None:
    env = (workdir / ".env").read_text()
    assert f"MSRAG_DENSE_MODEL={offline_model_dirs.minilm}" in env
    (workdir / ".env").write_text(env + "MSRAG_TOP_K=3\n")
    runner.invoke(app, ["models", "offline", str(offline_model_dirs.root), "--write-env", ".env"])
    again = (workdir / ".env").read_text()
    assert again.count("MSRAG_DENSE_MODEL=") == 1 and "MSRAG_TOP_K=3" in again


def test_ingest_search_ask_and_status(workdir: Path) -> None:
    docs = workdir / "docs"
    shutil.copytree(DEMO_DOCS, docs)
    (docs / "empty.md").write_text("")
    result = runner.invoke(app, ["ingest", "docs"])
    assert result.exit_code == 1, result.output  # one bad file → exit code 1, the rest ingested
    assert "empty file" in result.output and "ingested" in result.output

    again = runner.invoke(app, ["ingest", "docs/ada_lovelace.md"])
    assert again.exit_code == 0 and "unchanged" in again.output

    result = runner.invoke(app, ["search", "When was Ada Lovelace born?", "--json", "-k", "3"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert len(hits) == 3
    assert {"id", "score", "source", "title", "text"} <= set(hits[0])
    assert any("1815" in h["text"] for h in hits[:2])

    result = runner.invoke(
        app,
        [
            "search",
            "sourdough",
            "--mode",
            "bm25",
            "--source",
            "docs/sourdough_recipe.txt",
            "--json",
        ],
    )
    assert {h["source"] for h in json.loads(result.stdout)} == {"docs/sourdough_recipe.txt"}

    result = runner.invoke(app, ["ask", "When was Ada Lovelace born?", "--verbose"])
    assert result.exit_code == 0, result.output
    assert "1815" in result.output and "Extractive answer" in result.output
    assert "retrieve" in result.output  # the --verbose timings line

    result = runner.invoke(app, ["status"])
    assert "Documents: 8" in result.output and "embedded" in result.output
    assert "Footprint: ~" in result.output and "MB on disk" in result.output


def test_bad_mode_and_unreachable_server_are_sentences(workdir: Path) -> None:
    result = runner.invoke(app, ["search", "x", "--mode", "nope"])
    assert result.exit_code == 2 and "Unknown retrieval mode 'nope'" in result.output
    with (workdir / ".env").open("a") as fh:
        fh.write("QDRANT_URL=http://127.0.0.1:9\n")
    result = runner.invoke(app, ["search", "x"])
    assert result.exit_code == 3  # an upstream service failed
    assert "127.0.0.1:9" in result.output and "Traceback" not in result.output


def test_eval_writes_json_and_plot(workdir: Path) -> None:
    root = write_beir(
        workdir / "tiny",
        {
            "d1": ("Lighthouses", "A lighthouse guides ships with a light."),
            "d2": ("Bread", "Sourdough bread rises with wild yeast."),
            "d3": ("Tea", "Green tea is steamed to stop oxidation."),
        },
        {"q1": "what guides ships at night", "q2": "how does sourdough rise"},
        [("q1", "d1", 1), ("q2", "d2", 1)],
    )
    result = runner.invoke(
        app,
        [
            "eval",
            str(root),
            "--output",
            "m.json",
            "--plot",
            "m.png",
            "-m",
            "bm25",
            "-m",
            "hybrid+colbert",
        ],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads((workdir / "m.json").read_text())
    assert set(figures) == {"bm25", "hybrid+colbert"}
    assert figures["hybrid+colbert"]["ndcg@10"] == pytest.approx(1.0)
    assert {"ndcg@10", "recall@100", "mrr@10", "p50_ms"} <= set(figures["bm25"])
    assert (workdir / "m.png").read_bytes()[:4] == b"\x89PNG"


def test_a_50k_character_question_is_refused_with_the_setting_to_change(workdir: Path) -> None:
    result = runner.invoke(app, ["ask", "why " * 12_500])
    assert result.exit_code == 2
    assert "MSRAG_MAX_QUESTION_CHARS" in result.output and "Traceback" not in result.output


def test_chat_help_says_follow_ups_need_a_language_model() -> None:
    result = runner.invoke(app, ["chat", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Follow-up questions" in text and "need a language model" in text
