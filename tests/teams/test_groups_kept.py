"""Issue 20 (3): no groups given never widens a document's audience. On a real store (embedded
Qdrant engine, the offline models, no mocks): re-ingesting or re-uploading a restricted file,
changed or not, with empty groups keeps its groups; only `--public` or a confirmed revoke of
the last group makes it public, and every change of groups is audited."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from msrag.cli import app
from msrag.settings import Settings
from retrieval.encoders import Encoders
from retrieval.errors import EXIT_OK, EXIT_USAGE
from retrieval.ingest.offline import OfflineModels
from retrieval.retriever import MultiStageRetriever
from retrieval.stores import open_store
from teams import Admin, AuditLog, User
from teams.errors import LastGroupError
from teams.permissions import document_groups
from tests.conftest import DEMO_DOCS

SECRET = "docs/secret/office_plants.txt"
QUESTION = "how often should office plants be watered"
ALICE = User("alice@example.com", ("admins",), admin=True)
runner = CliRunner()


@pytest.fixture
def admin(
    settings: Settings, encoders: Encoders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Admin]:
    """The service over a store holding one document for `hr` only (`ingest --groups hr`)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs" / "secret").mkdir(parents=True)
    shutil.copy(DEMO_DOCS / "office_plants.txt", tmp_path / SECRET)
    encoders = encoders.configured(settings)
    store = open_store(settings, encoders.layout(settings))
    service = Admin(store, encoders, settings, AuditLog(tmp_path / "setup.db"))
    try:
        report = service.ingest(ALICE, [Path("docs/secret")], groups="hr", progress=False)
        assert [r.groups for r in report.files] == [("hr",)]
        service.audit = AuditLog(tmp_path / "audit.db")
        yield service
    finally:
        store.close()


def _seen_by(admin: Admin, groups: tuple[str, ...]) -> set[str]:
    """The sources a search as a member of `groups` finds."""
    retriever = MultiStageRetriever.from_settings(
        admin.settings, encoders=admin.encoders, store=admin.store
    )
    view = retriever.restricted_to(groups)
    return {p.source for p in view.search(QUESTION, top_k=10).passages}


def _assert_still_hr(admin: Admin) -> None:
    assert document_groups(admin.store, SECRET) == ("hr",)
    assert SECRET not in _seen_by(admin, ("sales",))
    assert SECRET in _seen_by(admin, ("hr",))


@pytest.mark.parametrize("groups", [None, "", " , "])
def test_an_unchanged_file_keeps_its_groups(admin: Admin, groups: str | None) -> None:
    report = admin.ingest(ALICE, [Path("docs/secret")], groups=groups, progress=False)
    [result] = report.files
    assert (result.status, result.groups) == ("unchanged", ("hr",))  # the table shows hr
    _assert_still_hr(admin)
    assert admin.audit.entries() == []  # nothing changed, nothing to record


def test_a_changed_file_keeps_its_groups(admin: Admin) -> None:
    (Path(SECRET)).write_text("Water the office plants every Tuesday; cacti once a month.")
    [result] = admin.ingest(ALICE, [Path("docs/secret")], groups="", progress=False).files
    assert (result.status, result.groups) == ("ingested", ("hr",))
    _assert_still_hr(admin)
    [entry] = admin.audit.entries()
    assert (entry.action, entry.detail, entry.groups) == ("upload", SECRET, ("hr",))


def test_a_reupload_with_an_empty_box_keeps_its_groups(admin: Admin) -> None:
    data = (DEMO_DOCS / "office_plants.txt").read_bytes()
    name = "plants.txt"
    [first] = admin.upload(ALICE, [(name, data)], groups="hr")
    assert first.groups == ("hr",)
    for content in (data, data + b"\nAlso: mist the ferns."):  # unchanged, then changed
        [again] = admin.upload(ALICE, [(name, content)], groups="")
        assert again.groups == ("hr",), again
        assert document_groups(admin.store, again.path) == ("hr",)
    assert [e.groups for e in admin.audit.entries()] == [("hr",), ("hr",)]  # the two ingested


def test_public_widens_and_is_audited(admin: Admin) -> None:
    [result] = admin.ingest(ALICE, [Path("docs/secret")], public=True, progress=False).files
    assert (result.status, result.groups, result.regrouped) == ("unchanged", (), True)
    assert document_groups(admin.store, SECRET) == ()
    assert SECRET in _seen_by(admin, ("sales",))
    [entry] = admin.audit.entries()
    assert (entry.action, entry.detail, entry.groups) == ("upload", SECRET, ())


def test_explicit_groups_on_an_unchanged_file_are_audited(admin: Admin) -> None:
    [result] = admin.ingest(ALICE, [Path("docs/secret")], groups="legal", progress=False).files
    assert (result.status, result.groups) == ("unchanged", ("legal",))
    [entry] = admin.audit.entries()
    assert (entry.action, entry.groups) == ("upload", ("legal",))


def test_revoking_the_last_group_needs_public(admin: Admin) -> None:
    with pytest.raises(LastGroupError, match="confirm with --public"):
        admin.revoke(ALICE, SECRET, "hr")
    _assert_still_hr(admin)
    assert admin.audit.entries() == []
    assert admin.revoke(ALICE, SECRET, "hr", public=True) == ()
    [entry] = admin.audit.entries()
    assert (entry.action, entry.groups) == ("revoke", ())


def test_the_cli_keeps_groups_and_refuses_a_silent_public(
    tmp_path: Path, offline_model_dirs: OfflineModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "\n".join([*offline_model_dirs.settings_lines(), f"MSRAG_DATA_DIR={tmp_path / 'data'}"])
        + "\n"
    )
    (tmp_path / "docs" / "secret").mkdir(parents=True)
    shutil.copy(DEMO_DOCS / "office_plants.txt", tmp_path / SECRET)
    result = runner.invoke(app, ["ingest", "docs/secret", "--groups", "hr"])
    assert result.exit_code == EXIT_OK, result.output
    result = runner.invoke(app, ["ingest", "docs/secret", "--groups", ""])
    assert result.exit_code == EXIT_OK, result.output
    assert "unchanged" in result.output and "everyone" not in result.output, result.output
    result = runner.invoke(app, ["ingest", "docs/secret", "--groups", "hr", "--public"])
    assert result.exit_code == EXIT_USAGE and "not both" in result.output

    result = runner.invoke(app, ["docs", "revoke", SECRET, "--groups", "hr"])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "--public" in result.output
    result = runner.invoke(app, ["docs", "revoke", SECRET, "--groups", "hr", "--public"])
    assert result.exit_code == EXIT_OK and f"{SECRET}: everyone" in result.output, result.output
    actions = [e.action for e in AuditLog(tmp_path / "data" / "conversations.db").entries()]
    assert actions == ["revoke", "upload"]  # newest first: the ingest, then the revoke
