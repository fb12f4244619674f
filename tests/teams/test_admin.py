"""The admin service on a real store (embedded Qdrant engine, the offline models, no mocks):
every change checks the caller's rights first and writes exactly one audit entry itself."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from msrag.settings import Settings
from retrieval.access import GroupNameError
from retrieval.encoders import Encoders
from retrieval.errors import UnknownDocumentError
from retrieval.ingest.library import DocumentInfo, chunks_of, documents
from retrieval.ingest.loaders import doc_id_for
from retrieval.stores import Store, open_store
from teams import Admin, AuditLog, AuditUnavailableError, NotAllowedError, User
from teams.admin import upload_dir
from tests.conftest import DEMO_DOCS

# small files: the store is built for every test
FILES = ("office_plants.txt", "green_tea.html", "sourdough_recipe.txt")
PLANTS = "docs/office_plants.txt"
ALICE = User("alice@example.com", ("admins",), admin=True)
BOB = User("bob@example.com", ("hr",), admin=False)


@pytest.fixture
def admin(
    settings: Settings, encoders: Encoders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Admin]:
    """The service over a store holding three documents (sources `docs/…`, as `msrag ingest
    docs` names them from `tmp_path`) and an empty audit log."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    for name in FILES:
        shutil.copy(DEMO_DOCS / name, tmp_path / "docs" / name)
    encoders = encoders.configured(settings)
    store = open_store(settings, encoders.layout(settings))
    audit = AuditLog(tmp_path / "audit.db")
    service = Admin(store, encoders, settings, audit)
    try:
        report = service.ingest(ALICE, [Path("docs")], progress=False)
        assert report.ok and report.counts()["ingested"] == len(FILES), report.summary()
        service.audit = AuditLog(tmp_path / "audit-of-the-test.db")  # the setup's rows apart
        yield service
    finally:
        store.close()


def _state(store: Store) -> tuple[list[DocumentInfo], int]:
    return documents(store), store.count()


# Every change, as bob (no admin) would ask for it.
ACTIONS: dict[str, Callable[[Admin, User], object]] = {
    "upload": lambda a, u: a.upload(u, [("notes.md", b"# Notes\n\nQuokkas live on Rottnest.")]),
    "ingest": lambda a, u: a.ingest(u, [Path("docs")], groups="hr", prune=True, progress=False),
    "delete": lambda a, u: a.delete(u, PLANTS),
    "reingest": lambda a, u: a.reingest(u, PLANTS),
    "grant": lambda a, u: a.grant(u, PLANTS, "hr"),
    "revoke": lambda a, u: a.revoke(u, PLANTS, "hr"),
}


class TestRights:
    @pytest.mark.parametrize("action", list(ACTIONS))
    def test_a_non_admin_is_refused_and_nothing_changes(self, admin: Admin, action: str) -> None:
        (Path("docs") / "office_plants.txt").write_text("Cacti like sun and little water.")
        before = _state(admin.store)
        with pytest.raises(NotAllowedError, match=r"^bob@example\.com is not an admin, so may not"):
            ACTIONS[action](admin, BOB)
        assert _state(admin.store) == before
        assert not upload_dir(admin.settings).exists()  # not even a file saved
        # the refusal itself is recorded: who, what they tried, why, their groups
        [entry] = admin.audit.entries()
        assert (entry.user, entry.action, entry.groups) == (BOB.name, "denied", ("hr",))
        assert entry.detail.endswith(": not an admin") and entry.at
        assert admin.audit.entries(action="denied") == [entry]

    def test_the_refusal_is_one_sentence_naming_the_fix(self, admin: Admin) -> None:
        with pytest.raises(NotAllowedError) as refused:
            admin.delete(BOB, PLANTS)
        message = str(refused.value)
        assert PLANTS in message and "`admins` group (MSRAG_GROUPS_FILE)" in message
        assert message.count(". ") == 0 and message.endswith(".")

    def test_rights_are_checked_before_the_input(self, admin: Admin) -> None:
        # a refused caller learns nothing about the library: an unknown source is still "no"
        with pytest.raises(NotAllowedError):
            admin.delete(BOB, "docs/no-such-file.md")
        with pytest.raises(NotAllowedError):
            admin.grant(BOB, PLANTS, "not a group!")
        assert admin.allows(ALICE) and not admin.allows(BOB)


class TestAudit:
    """Each change by an admin: exactly one entry, naming who, what and which document."""

    def _one_new_entry(self, admin: Admin, before: int) -> tuple[str, str, str, tuple, tuple]:
        entries = admin.audit.entries()
        assert len(entries) == before + 1, entries
        e = entries[0]
        return e.user, e.action, e.detail, e.doc_ids, e.groups

    def test_grant_revoke_delete(self, admin: Admin) -> None:
        plants = (doc_id_for(PLANTS),)
        assert admin.grant(ALICE, PLANTS, "hr, legal") == ("hr", "legal")
        assert self._one_new_entry(admin, 0) == (
            ALICE.name, "grant", PLANTS, plants, ("hr", "legal")
        )  # fmt: skip
        assert admin.revoke(ALICE, PLANTS, ["legal"]) == ("hr",)
        assert self._one_new_entry(admin, 1) == (ALICE.name, "revoke", PLANTS, plants, ("hr",))
        assert {d.source: d.groups for d in documents(admin.store)}[PLANTS] == ("hr",)

        chunks = len(chunks_of(admin.store, PLANTS))
        assert admin.delete(ALICE, PLANTS) == chunks
        assert self._one_new_entry(admin, 2) == (ALICE.name, "delete", PLANTS, plants, ("*",))
        assert PLANTS not in {d.source for d in documents(admin.store)}

    def test_reingest_is_audited(self, admin: Admin) -> None:
        plants = (doc_id_for(PLANTS),)
        admin.grant(ALICE, PLANTS, "hr")
        assert admin.reingest(ALICE, PLANTS).status == "unchanged"
        assert self._one_new_entry(admin, 1) == (ALICE.name, "reingest", PLANTS, plants, ("hr",))

        (Path("docs") / "office_plants.txt").write_text("Cacti like sun and little water.")
        result = admin.reingest(ALICE, PLANTS)
        assert (result.status, result.chunks, result.groups) == ("ingested", 1, ("hr",))
        assert "Cacti" in chunks_of(admin.store, PLANTS)[0].text
        assert self._one_new_entry(admin, 2) == (ALICE.name, "reingest", PLANTS, plants, ("hr",))

    def test_a_failed_change_writes_nothing(self, admin: Admin) -> None:
        (Path("docs") / "office_plants.txt").unlink()
        for change in (
            lambda: admin.reingest(ALICE, PLANTS),
            lambda: admin.delete(ALICE, "docs/no-such-file.md"),
            lambda: admin.grant(ALICE, "docs/no-such-file.md", "hr"),
        ):
            with pytest.raises(UnknownDocumentError):
                change()
        with pytest.raises(GroupNameError):
            admin.upload(ALICE, [("notes.md", b"# Notes")], groups="hr, *")
        assert admin.audit.entries() == []
        assert not upload_dir(admin.settings).exists()  # a bad group name: nothing saved

    def test_upload_one_entry_per_file_ingested(self, admin: Admin) -> None:
        seen: list[tuple[int, int, str]] = []
        results = admin.upload(
            ALICE,
            [
                ("../../quokka notes.md", b"# Quokkas\n\nThe quokka Percival lives on Rottnest."),
                ("malware.exe", b"MZ\x90\x00"),
            ],
            groups="hr",
            progress=lambda done, total, name: seen.append((done, total, name)),
        )
        assert [(r.status, r.groups) for r in results] == [("ingested", ("hr",)), ("skipped", ())]
        assert seen == [(0, 2, "quokka notes.md"), (1, 2, "malware.exe"), (2, 2, "")]
        source = results[0].path
        assert (upload_dir(admin.settings) / "quokka notes.md").is_file()
        assert not (upload_dir(admin.settings) / "malware.exe").exists()
        assert self._one_new_entry(admin, 0) == (
            ALICE.name, "upload", source, (doc_id_for(source),), ("hr",)
        )  # fmt: skip

    def test_ingest_entries_for_ingested_and_pruned_files(self, admin: Admin) -> None:
        (Path("docs") / "office_plants.txt").write_text("Cacti like sun and little water.")
        (Path("docs") / "green_tea.html").unlink()
        report = admin.ingest(ALICE, [Path("docs")], prune=True, progress=False)
        assert {r.path: r.status for r in report.files} == {
            PLANTS: "ingested",
            "docs/sourdough_recipe.txt": "unchanged",
            "docs/green_tea.html": "pruned",
        }
        entries = {e.action: e for e in admin.audit.entries()}
        assert len(admin.audit.entries()) == 2  # nothing for the unchanged file
        assert (entries["upload"].detail, entries["upload"].user) == (PLANTS, ALICE.name)
        assert entries["delete"].detail == "docs/green_tea.html"


class TestFailClosed:
    """A change that cannot be audited is not made: the service refuses it with a sentence."""

    @pytest.mark.parametrize("action", list(ACTIONS))
    def test_an_unwritable_audit_log_refuses_every_change(
        self, admin: Admin, action: str, tmp_path: Path
    ) -> None:
        (Path("docs") / "office_plants.txt").write_text("Cacti like sun and little water.")
        before = _state(admin.store)
        blocked = tmp_path / "not-a-database"
        blocked.mkdir()  # a folder where the file should be: SQLite cannot open it (even as root)
        admin.audit = AuditLog(blocked)
        with pytest.raises(AuditUnavailableError, match="never made unrecorded"):
            ACTIONS[action](admin, ALICE)
        assert _state(admin.store) == before
        assert not upload_dir(admin.settings).exists()

    def test_a_moved_database_gets_the_entry_in_the_new_file(
        self, admin: Admin, tmp_path: Path
    ) -> None:
        admin.grant(ALICE, PLANTS, "hr")
        admin.audit.path.rename(tmp_path / "moved-aside.db")
        assert admin.revoke(ALICE, PLANTS, "hr", public=True) == ()
        assert [e.action for e in admin.audit.entries()] == ["revoke"]
