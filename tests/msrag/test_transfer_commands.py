"""`msrag export` / `msrag import` as a user runs them: real ingest, real models, real stores."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from msrag.cli import app
from retrieval.ingest.offline import OfflineModels
from tests.conftest import DEMO_DOCS

runner = CliRunner()
QUESTIONS = ("When was Ada Lovelace born?", "How long should green tea steep?", "sourdough")


@pytest.fixture
def workdir(
    tmp_path: Path, offline_model_dirs: OfflineModels, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A project whose .env points at the offline models, with the demo documents ingested."""
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(
        app, ["models", "offline", str(offline_model_dirs.root), "--write-env", ".env"]
    )
    assert result.exit_code == 0, result.output
    shutil.copytree(DEMO_DOCS, tmp_path / "docs")
    result = runner.invoke(app, ["ingest", "docs"])
    assert result.exit_code == 0, result.output
    return tmp_path


def _search(question: str) -> list[tuple[str, float]]:
    result = runner.invoke(app, ["search", question, "--json", "-k", "10"])
    assert result.exit_code == 0, result.output
    return [(hit["id"], round(hit["score"], 4)) for hit in json.loads(result.stdout)]


def test_export_to_a_file_and_import_it_on_another_machine(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {q: _search(q) for q in QUESTIONS}
    result = runner.invoke(app, ["export", "--to", "backup.msrag.jsonl"])
    assert result.exit_code == 0, result.output
    assert "points" in result.stdout and "Done" in result.stderr
    points = len((workdir / "backup.msrag.jsonl").read_bytes().splitlines()) - 1
    assert points >= 10  # the demo documents: ~one chunk each

    # "another machine": a fresh data directory, the same models
    monkeypatch.setenv("MSRAG_DATA_DIR", str(workdir / "laptop"))
    result = runner.invoke(app, ["import", "backup.msrag.jsonl"])
    assert result.exit_code == 0, result.output
    assert f"{points} → {points}" in result.stdout
    assert {q: _search(q) for q in QUESTIONS} == before  # identical results, nothing re-encoded

    again = runner.invoke(app, ["import", "backup.msrag.jsonl"])
    assert again.exit_code == 2
    assert "already holds" in again.stderr and "Traceback" not in again.output


def test_an_unreachable_server_is_one_sentence(workdir: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = runner.invoke(app, ["export", "--to", f"http://127.0.0.1:{port}"])
    assert result.exit_code == 3, result.output
    assert "unreachable" in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) <= 3


def test_nothing_to_export_and_a_foreign_file(workdir: Path, monkeypatch) -> None:
    monkeypatch.setenv("MSRAG_DATA_DIR", str(workdir / "empty"))
    result = runner.invoke(app, ["export", "--to", "x.jsonl"])
    assert result.exit_code == 2 and "nothing to transfer" in result.stderr
    (workdir / "notes.txt").write_text("hello\n")
    result = runner.invoke(app, ["import", "notes.txt"])
    assert result.exit_code == 2 and "not a readable msrag export" in result.stderr
