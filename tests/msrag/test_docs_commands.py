"""`msrag docs`: delete, re-ingest, grant and revoke go through the admin service as the local
operator (`cli:<account>`, an admin), each with one audit entry; exit codes from the one table."""

from __future__ import annotations

import getpass
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from msrag.cli import app
from retrieval.errors import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE
from retrieval.ingest.offline import OfflineModels
from teams.audit import AuditLog
from tests.conftest import DEMO_DOCS

runner = CliRunner()
OPERATOR = f"cli:{getpass.getuser()}"
PLANTS, TEA = "docs/office_plants.txt", "docs/green_tea.html"


@pytest.fixture
def project(tmp_path: Path, offline_model_dirs: OfflineModels, monkeypatch) -> Path:
    """A project folder with two small documents ingested from it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "\n".join([*offline_model_dirs.settings_lines(), f"MSRAG_DATA_DIR={tmp_path / 'data'}"])
        + "\n"
    )
    (tmp_path / "docs").mkdir()
    for source in (PLANTS, TEA):
        shutil.copy(DEMO_DOCS / Path(source).name, tmp_path / source)
    result = runner.invoke(app, ["ingest", "docs"])
    assert result.exit_code == EXIT_OK, result.output
    return tmp_path


def _audit(project: Path) -> list[tuple[str, str, str]]:
    """(user, action, source) of every entry, oldest first."""
    entries = AuditLog(project / "data" / "conversations.db").entries()
    return [(e.user, e.action, e.detail) for e in reversed(entries)]


def test_the_help_names_every_change() -> None:
    result = runner.invoke(app, ["docs", "--help"])
    assert result.exit_code == EXIT_OK
    for word in ("delete", "re-ingest", "grant", "revoke"):
        assert word in result.output


def test_changes_are_audited_as_the_operator(project: Path) -> None:
    ingested = [(OPERATOR, "upload", s) for s in (TEA, PLANTS)]
    assert _audit(project) == ingested

    result = runner.invoke(app, ["docs", "reingest", PLANTS])
    assert result.exit_code == EXIT_OK and "unchanged" in result.output, result.output
    (project / PLANTS).write_text("Cacti like sun and little water.")
    result = runner.invoke(app, ["docs", "reingest", PLANTS])
    assert result.exit_code == EXIT_OK and "ingested (1 chunks)" in result.output, result.output

    result = runner.invoke(app, ["docs", "grant", PLANTS, TEA, "--groups", "hr"])
    assert result.exit_code == EXIT_OK, result.output
    assert f"{PLANTS}: hr" in result.output and f"{TEA}: hr" in result.output
    # its last group: it would become public, so only with --public
    result = runner.invoke(app, ["docs", "revoke", PLANTS, "--groups", "hr"])
    assert result.exit_code == EXIT_USAGE and "confirm with --public" in result.output
    result = runner.invoke(app, ["docs", "revoke", PLANTS, "--groups", "hr", "--public"])
    assert result.exit_code == EXIT_OK and f"{PLANTS}: everyone" in result.output

    result = runner.invoke(app, ["docs", "delete", TEA], input="n\n")
    assert result.exit_code == EXIT_PARTIAL and "Nothing deleted." in result.output
    result = runner.invoke(app, ["docs", "delete", TEA, "--yes"])
    assert result.exit_code == EXIT_OK and f"Deleted {TEA}" in result.output, result.output

    assert _audit(project) == ingested + [
        (OPERATOR, "reingest", PLANTS),
        (OPERATOR, "reingest", PLANTS),
        (OPERATOR, "grant", PLANTS),
        (OPERATOR, "grant", TEA),
        (OPERATOR, "revoke", PLANTS),
        (OPERATOR, "delete", TEA),
    ]


def test_a_failed_change_exits_with_usage_and_is_not_audited(project: Path) -> None:
    before = _audit(project)
    (project / PLANTS).unlink()
    for args in (
        ["docs", "reingest", PLANTS],  # its file is gone
        ["docs", "delete", "docs/nope.md", "--yes"],
        ["docs", "grant", PLANTS, "--groups", "hr,*"],  # a bad group name
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == EXIT_USAGE, (args, result.output)
    assert _audit(project) == before
