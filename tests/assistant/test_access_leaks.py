"""No forbidden passage leaks, end to end, with the real encoders and both stores.

A small library where public, `hr` and `legal` documents all talk about the same thing (the
holiday bonus), so every query finds all three kinds and only the filter keeps them apart. Each
forbidden document carries a marker word; for a user in no group and a user in `hr`, across
every mode and both stores, the marker must not appear in the passages, the prompt the scripted
LLM server receives, the answer's sources, the extractive answer, or `msrag search --as`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient
from typer.testing import CliRunner

from assistant.audited import audited
from assistant.chat import Assistant
from msrag.cli import app
from msrag.settings import Settings
from retrieval.access import PUBLIC
from retrieval.encoders import Encoders
from retrieval.ingest.offline import OfflineModels
from retrieval.ingest.pipeline import ingest
from retrieval.modes import MODES
from retrieval.retriever import MultiStageRetriever
from retrieval.stores import EdgeStore, ServerStore
from teams.audit import AuditLog
from teams.identity import Identities, User
from tests.assistant.conftest import SECRET, llm_settings
from tests.assistant.helpers import MARKERS, forbidden_markers, write_library
from tests.conftest import make_settings
from tests.llm_server import Reply, ScriptedLLM

QUESTIONS = [
    "What is the holiday bonus policy?",
    "How much holiday bonus do employees get in December?",
    "holiday bonus contract clause",
]
USERS = {"nobody": (), "hr": ("hr",)}
SEARCH_MODES = [m for m in MODES if m != "muvera+colbert"]  # needs MUVERA vectors (store tests)


def ingest_library(docs: Path, settings: Settings, store, encoders: Encoders) -> None:  # noqa: ANN001
    report = ingest([docs], settings, store, encoders, progress=False)
    assert report.ok, report.files
    # legal via the explicit option (the way `msrag ingest --groups legal` passes it)
    report = ingest([docs / "legal"], settings, store, encoders, progress=False, groups=["legal"])
    assert report.ok and report.files[0].groups == ("legal",)


@pytest.fixture(scope="module", params=["edge", "server"])
def retriever(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    offline_model_dirs: OfflineModels,
    encoders: Encoders,
) -> Iterator[MultiStageRetriever]:
    root = tmp_path_factory.mktemp(f"leaks-{request.param}")
    settings = make_settings(offline_model_dirs, root / "data")
    layout = encoders.configured(settings).layout(settings)
    if request.param == "edge":
        store = EdgeStore(settings.store_path, layout)
    else:
        store = ServerStore(QdrantClient(":memory:"), "msrag", layout)
    ingest_library(write_library(root), settings, store, encoders)
    retriever = MultiStageRetriever.from_settings(settings, encoders=encoders, store=store)
    yield retriever
    retriever.close()


def test_the_library_is_labelled(retriever: MultiStageRetriever) -> None:
    groups = {
        p["source"]: tuple(p["groups"])
        for _, p in retriever.store.scroll_payloads(["source", "groups"])
    }
    assert {Path(s).parent.name: g for s, g in groups.items()} == {
        "public": (PUBLIC,),
        "hr": ("hr",),
        "legal": ("legal",),
    }


@pytest.mark.parametrize("user", list(USERS))
@pytest.mark.parametrize("mode", SEARCH_MODES)
def test_search_returns_no_forbidden_chunk(
    retriever: MultiStageRetriever, mode: str, user: str
) -> None:
    groups = USERS[user]
    view = retriever.restricted_to(groups)
    everything = {
        p.id: p for q in QUESTIONS for p in retriever.search(q, mode=mode, top_k=20).passages
    }
    forbidden = {i for i, p in everything.items() if not set(p.groups) & {PUBLIC, *groups}}
    assert forbidden, "the unrestricted search must find restricted chunks, or this proves nothing"
    for question in QUESTIONS:
        passages = view.search(question, mode=mode, top_k=20).passages
        assert passages, "the public handbook matches every question"
        assert not {p.id for p in passages} & forbidden
        text = " ".join(p.text for p in passages)
        assert not any(word in text for word in forbidden_markers(groups))
        # the LlamaIndex path carries the same restriction
        nodes = view.retrieve(question)
        assert not {n.node.node_id for n in nodes} & forbidden
    if groups:  # and the filter does not over-block: HR finds its own document
        found = {p.source for q in QUESTIONS for p in view.search(q, mode=mode, top_k=20).passages}
        assert any("hr/" in s for s in found)


@pytest.mark.parametrize("user", list(USERS))
def test_prompt_sources_and_answers_hold_nothing_forbidden(
    retriever: MultiStageRetriever, tmp_path: Path, user: str
) -> None:
    groups = USERS[user]
    forbidden = forbidden_markers(groups)
    log = AuditLog(tmp_path / "conversations.db")
    who = User(f"{user}@example.com", groups)
    with ScriptedLLM(api_key=SECRET) as server:
        server.script(*[Reply("The holiday bonus is paid in December [1].")] * len(QUESTIONS))
        settings = llm_settings(server.url, tmp_path)
        bot = audited(Assistant(settings, retriever.restricted_to(groups)), log, who)
        for question in QUESTIONS:
            answer = bot.ask(question, top_k=10)
            assert answer.ok, answer.error
            shown = [answer.text] + [s.text for s in answer.all_sources]
            shown += [p.text for p in answer.omitted]
            assert not any(w in t for w in forbidden for t in shown)
        prompts = json.dumps(server.chat_requests)
        assert "holiday bonus" in prompts  # the prompts did carry passages
        assert not any(word in prompts for word in forbidden)
    # the extractive answer (no LLM) draws on the same restricted passages
    extractive = Assistant(llm_settings(None, tmp_path), retriever.restricted_to(groups))
    for question in QUESTIONS:
        answer = extractive.ask(question, top_k=10)
        assert answer.extractive
        assert not any(w in answer.text for w in forbidden)
    entries = log.entries(user=who.name)
    assert [e.action for e in entries] == ["ask"] * len(QUESTIONS)
    assert all(e.groups == groups for e in entries)
    assert all(e.doc_ids for e in entries)


def test_audit_log_is_append_only(tmp_path: Path) -> None:
    import sqlite3

    log = AuditLog(tmp_path / "conversations.db")
    log.record("bob@example.com", "ask", "holiday bonus?", doc_ids=["d1", "d1", "d2"], groups=())
    [entry] = log.entries()
    assert (entry.user, entry.action, entry.doc_ids, entry.groups) == (
        "bob@example.com",
        "ask",
        ("d1", "d2"),
        (),
    )
    with sqlite3.connect(tmp_path / "conversations.db") as db:
        for statement in ("UPDATE audit SET user = 'x'", "DELETE FROM audit"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(statement)
    assert len(log.entries()) == 1


class TestCommandLine:
    runner = CliRunner()

    @pytest.fixture
    def workdir(
        self, tmp_path: Path, offline_model_dirs: OfflineModels, monkeypatch: pytest.MonkeyPatch
    ) -> Path:
        monkeypatch.chdir(tmp_path)
        result = self.runner.invoke(
            app, ["models", "offline", str(offline_model_dirs.root), "--write-env", ".env"]
        )
        assert result.exit_code == 0, result.output
        write_library(tmp_path)
        (tmp_path / "groups.yaml").write_text(
            'admin@example.com: [admins]\n"*@hr.example.com": [hr]\ncarol@example.com: legal\n'
        )
        monkeypatch.setenv("MSRAG_GROUPS_FILE", str(tmp_path / "groups.yaml"))
        return tmp_path

    def search(self, *args: str) -> list[dict]:
        result = self.runner.invoke(app, ["search", *args, "--json", "-k", "20"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def test_ingest_groups_search_as_and_grant_revoke(self, workdir: Path) -> None:
        result = self.runner.invoke(app, ["ingest", "docs"])
        assert result.exit_code == 0, result.output
        result = self.runner.invoke(app, ["ingest", "docs/legal", "--groups", "legal"])
        assert result.exit_code == 0 and "legal" in result.output, result.output

        for mode in ("hybrid+colbert", "bm25", "dense"):
            for user, allowed in (
                ("dave@example.com", {"public"}),
                ("eve@HR.example.com", {"public", "hr"}),
                ("carol@example.com", {"public", "legal"}),
                ("admin@example.com", {"public", "hr", "legal"}),
                ("*", {"public"}),
            ):
                hits = self.search(QUESTIONS[0], "--mode", mode, "--as", user)
                folders = {Path(h["source"]).parent.name for h in hits}
                assert folders == allowed, (mode, user, folders)
                text = json.dumps(hits)
                assert not any(MARKERS[g] in text for g in ("hr", "legal") if g not in allowed)

        # a hostile --source cannot widen what --as allows
        for source in ("*", "docs/hr/bands.md", '" OR 1=1'):
            hits = self.search(QUESTIONS[0], "--as", "dave@example.com", "--source", source)
            assert hits == []

        # grant and revoke: payload only, visible at once
        result = self.runner.invoke(app, ["docs", "grant", "docs/hr/bands.md", "--groups", "legal"])
        assert result.exit_code == 0 and "hr, legal" in result.output, result.output
        folders = {
            Path(h["source"]).parent.name
            for h in self.search("holiday", "--as", "carol@example.com")
        }
        assert folders == {"public", "hr", "legal"}
        revoke = ["docs", "revoke", "docs/hr/bands.md", "--groups", "legal,hr"]
        result = self.runner.invoke(app, revoke)  # its last groups: public only with --public
        assert result.exit_code == 2 and "--public" in result.output, result.output
        result = self.runner.invoke(app, [*revoke, "--public"])
        assert result.exit_code == 0 and "everyone" in result.output
        folders = {
            Path(h["source"]).parent.name
            for h in self.search("holiday", "--as", "dave@example.com")
        }
        assert folders == {"public", "hr"}
        result = self.runner.invoke(app, ["docs", "grant", "docs/nope.md", "--groups", "hr"])
        assert result.exit_code == 2 and "No stored document" in result.output

        # re-ingesting without --groups keeps what the store records (never widens)
        self.runner.invoke(app, ["docs", "grant", "docs/hr/bands.md", "--groups", "hr"])
        (workdir / "docs" / "hr" / ".msrag-groups").unlink()
        assert self.runner.invoke(app, ["ingest", "docs"]).exit_code == 0
        folders = {
            Path(h["source"]).parent.name
            for h in self.search("holiday", "--as", "dave@example.com")
        }
        assert folders == {"public"}

        actions = [e.action for e in AuditLog(workdir / ".msrag" / "conversations.db").entries()]
        assert {"upload", "search", "grant", "revoke"} <= set(actions)

    def test_as_needs_a_groups_file(self, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("MSRAG_GROUPS_FILE")
        result = self.runner.invoke(app, ["search", "holiday", "--as", "bob@example.com"])
        assert result.exit_code == 2 and "MSRAG_GROUPS_FILE" in result.output

    def test_a_bad_group_name_is_refused(self, workdir: Path) -> None:
        result = self.runner.invoke(app, ["ingest", "docs", "--groups", "hr,*"])
        assert result.exit_code == 2 and "not a valid group name" in result.output


def test_identities_from_the_groups_file(tmp_path: Path) -> None:
    groups = tmp_path / "groups.yaml"
    groups.write_text('alice@example.com: [admins]\n"*@hr.example.com": [hr]\n')
    ids = Identities(llm_settings(None, tmp_path, auth="header", groups_file=groups))
    assert ids.from_headers({}) is None
    assert ids.from_headers({"x-forwarded-email": "  "}) is None
    bob = ids.from_headers({"X-Forwarded-Email": "Bob@HR.example.com"})
    assert bob == User("bob@hr.example.com", ("hr",), admin=False) and bob.access == ("hr",)
    alice = ids.user("alice@example.com")
    assert alice.admin and alice.access is None
    assert ids.user("*").groups == ()  # a user name is never a pattern
    groups.write_text("alice@example.com: [legal]\n")  # edited: re-read on the next request
    assert ids.user("alice@example.com") == User("alice@example.com", ("legal",))


def test_a_damaged_database_costs_the_entry_not_the_action(tmp_path: Path) -> None:
    from teams.audit import AuditUnavailableError

    damaged = tmp_path / "conversations.db"
    damaged.write_bytes(b"not a database" * 100)
    log = AuditLog(damaged)
    log.record("bob@example.com", "ask", "holiday bonus?")  # logged as a warning, no exception
    with pytest.raises(AuditUnavailableError, match="cannot be read"):
        log.entries()
    assert damaged.read_bytes() == b"not a database" * 100  # left untouched
