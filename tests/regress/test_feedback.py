"""Feedback → regression cases: a saved answer becomes a case that passes on the next run; every
👎 becomes a case for review. Real store, real assistant, real SQLite, real `msrag regress`."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from assistant.chat import Assistant
from assistant.conversations import ConversationStore, Turn
from msrag.cli import app
from msrag.settings import Settings
from regress.cases import load_suite
from regress.feedback import HEADER, append_cases, case_from_turn, record_case
from retrieval.encoders import Encoders
from retrieval.ingest.offline import OfflineModels
from retrieval.ingest.pipeline import ingest
from retrieval.retriever import MultiStageRetriever
from tests.assistant.helpers import sample_answer
from tests.conftest import DEMO_DOCS, make_settings, shipped_layout
from tests.llm_server import Reply, ScriptedLLM
from tests.ui.conftest import page_env

runner = CliRunner()


@pytest.fixture
def project(
    tmp_path: Path, offline_model_dirs: OfflineModels, encoders: Encoders, monkeypatch
) -> Iterator[tuple[Settings, MultiStageRetriever, ConversationStore]]:
    """A user's project: the demo documents ingested, a conversation store, the environment
    `msrag regress` will read."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(DEMO_DOCS, tmp_path / "docs")
    for name, value in page_env(offline_model_dirs, tmp_path / ".msrag").items():
        monkeypatch.setenv(name, value)
    settings = make_settings(offline_model_dirs, tmp_path / ".msrag", **shipped_layout())
    retriever = MultiStageRetriever.from_settings(settings, encoders=encoders)
    assert ingest([Path("docs")], settings, retriever.store, retriever.encoders, progress=False).ok
    store = ConversationStore(settings.conversations_path)
    yield settings, retriever, store
    store.close()
    retriever.close()


def _turn(store: ConversationStore, assistant: Assistant, questions: list[str]) -> Turn:
    """Ask the questions as one conversation, saving each turn; the last saved turn."""
    cid, history, turn = None, [], None
    for question in questions:
        answer = assistant.ask(question, history)
        turn = store.add_turn(cid, answer, top_k=5, model_label="test")
        cid = turn.conversation_id
        history += [answer]
    assert turn is not None
    return turn


class TestCaseFile:
    def test_created_with_a_header_appended_as_text_and_duplicates_skipped(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "sub" / "msrag-cases.yaml"
        with ConversationStore(tmp_path / "c.db") as store:
            first = store.add_turn(None, sample_answer(), top_k=5, model_label="m")
            second = store.add_turn(first.conversation_id, sample_answer("And then?"), top_k=3,
                                    model_label="m")  # fmt: skip
        case = case_from_turn(second, [first], must_contain=["1815", " "])
        assert append_cases(path, [case]) == [case.id]
        text = path.read_text()
        assert text.startswith(HEADER.format(name=path.name).splitlines()[0])
        # a comment a reviewer added by hand survives the next append
        path.write_text(text + "  # reviewed by Ann\n")
        assert append_cases(path, [case]) == []
        assert append_cases(path, [case_from_turn(first, [])]) == [f"fb-c1-t{first.position}"]
        assert "# reviewed by Ann" in path.read_text()
        suite = load_suite(path)
        saved = suite.case(case.id)
        assert saved.question == "And then?" and saved.top_k == 3
        assert [m.content for m in saved.history][0] == "When was Ada Lovelace born?"
        assert saved.must_cite == ["docs/doc1.md"]
        assert [p.describe() for p in saved.must_contain] == ['"1815"']

    def test_review_cases_carry_the_comment_and_no_expectations(self, tmp_path: Path) -> None:
        nasty = "<b>wrong</b>\nsecond line \x07 " + "x" * 10_000
        with ConversationStore(tmp_path / "c.db") as store:
            turn = store.add_turn(None, sample_answer(nasty), top_k=5, model_label="m")
            store.set_feedback(turn.id, "down", nasty)
            turn = store.turn(turn.id)
        path = tmp_path / "cases.yaml"
        append_cases(path, [case_from_turn(turn, [], review=True)])
        text = path.read_text()
        assert "# REVIEW: the user gave this answer 👎" in text
        assert "# comment: <b>wrong</b>" in text and "#  second line" not in text
        saved = load_suite(path).cases[0]
        assert saved.question == nasty.replace("\x07", "")  # stored as typed, minus controls
        assert not saved.must_cite and not saved.must_contain

    def test_a_file_the_runner_cannot_read_is_never_left_behind(self, tmp_path: Path) -> None:
        path = tmp_path / "cases.yaml"
        path.write_text("cases:\n  - id: a\n    question: q\nname: trailing-key\n")
        before = path.read_text()
        with ConversationStore(tmp_path / "c.db") as store:
            turn = store.add_turn(None, sample_answer(), top_k=5, model_label="m")
        with pytest.raises(Exception):  # noqa: B017 - the suite's own validation error
            append_cases(path, [case_from_turn(turn, [])])
        assert path.read_text() == before


class TestSavedCasePasses:
    def test_without_a_model_the_case_passes_with_llm_off(self, project) -> None:
        settings, retriever, store = project
        turn = _turn(store, Assistant(settings, retriever), ["When was Ada Lovelace born?"])
        path = settings.regress_cases
        append_cases(path, [case_from_turn(turn, [], must_contain=["1815"])])
        result = record_case(path, f"fb-c{turn.conversation_id}-t1", settings, retriever=retriever)
        assert [layer.status for layer in result.layers] == ["pass"] * 3, result.layers
        assert "new golden written" in result.layers[0].reason
        goldens = sorted(p.name for p in path.parent.glob("msrag-cases.goldens/*"))
        assert goldens == [f"{case}.{layer}.txt" for case in [goldens[0].split(".")[0]]
                           for layer in ("prompt", "retrieval")]  # fmt: skip
        retriever.store.close()  # `msrag regress` opens the store itself
        done = runner.invoke(app, ["regress", str(path), "--llm", "off"])
        assert done.exit_code == 0, done.output
        assert "1 passed" in done.output or "passed" in done.output

    def test_with_a_model_the_next_replay_passes(self, project, monkeypatch) -> None:
        settings, retriever, store = project
        with ScriptedLLM(default=lambda body: Reply(_reply(body))) as llm:
            monkeypatch.setenv("OPENAI_BASE_URL", llm.url)
            monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
            monkeypatch.setenv("MSRAG_LLM_MODEL", "test-model")
            live = settings.model_copy(
                update={"openai_base_url": llm.url, "llm_model": "test-model"}
            )
            turn = _turn(
                store,
                Assistant(live, retriever),
                ["Who was Ada Lovelace?", "When was she born?"],
            )
            earlier = [t for t in store.turns(turn.conversation_id) if t.position < 2]
            path = settings.regress_cases
            append_cases(path, [case_from_turn(turn, earlier, must_contain=["1815"])])
            result = record_case(path, f"fb-c{turn.conversation_id}-t2", live, retriever=retriever)
            assert [layer.status for layer in result.layers] == ["pass"] * 3, result.layers
        retriever.store.close()
        monkeypatch.delenv("OPENAI_BASE_URL")  # replay never calls a model
        done = runner.invoke(app, ["regress", str(path)])
        assert done.exit_code == 0, done.output
        case = load_suite(path).cases[0]
        assert [m.role for m in case.history] == ["user", "assistant"]


def _reply(body: dict) -> str:
    prompt = body["messages"][-1]["content"]
    if "Standalone question" in prompt or "standalone" in prompt.lower():
        return "When was Ada Lovelace born?"
    return "Ada Lovelace was born on 10 December 1815 [1]."


class TestFromFeedback:
    def test_every_thumbs_down_since_a_date_becomes_a_case_for_review(
        self, tmp_path: Path, monkeypatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("MSRAG_DATA_DIR", str(tmp_path / ".msrag"))
        with ConversationStore(tmp_path / ".msrag" / "conversations.db") as store:
            bad = store.add_turn(None, sample_answer("Bad one?"), top_k=5, model_label="m")
            good = store.add_turn(None, sample_answer("Good one?"), top_k=5, model_label="m")
            store.set_feedback(bad.id, "down", "The date is wrong.")
            store.set_feedback(good.id, "up")
        future = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
        done = runner.invoke(app, ["regress", "--from-feedback", "--since", future])
        assert done.exit_code == 0, done.output
        assert "Wrote 0 cases" in done.output and not Path("msrag-cases.yaml").exists()

        done = runner.invoke(app, ["regress", "--from-feedback", "--since", "2020-01-01"])
        assert done.exit_code == 0 and "Wrote 1 case for review" in done.output, done.output
        data = yaml.safe_load(Path("msrag-cases.yaml").read_text())
        assert [c["question"] for c in data["cases"]] == ["Bad one?"]
        assert "# comment: The date is wrong." in Path("msrag-cases.yaml").read_text()
        again = runner.invoke(app, ["regress", "--from-feedback"])
        assert "Wrote 0 cases" in again.output and "1 already there" in again.output

        bad_date = runner.invoke(app, ["regress", "--from-feedback", "--since", "last week"])
        assert bad_date.exit_code == 2 and "is not a date" in bad_date.output

    def test_every_users_thumbs_down_each_naming_its_user_or_one_users(
        self, tmp_path: Path, monkeypatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("MSRAG_DATA_DIR", str(tmp_path / ".msrag"))
        db = tmp_path / ".msrag" / "conversations.db"
        users = ["local", "header:alice@x", "oidc:bob@y"]
        for user in users:
            with ConversationStore(db, user_id=user) as store:
                first = store.add_turn(
                    None, sample_answer(f"Before {user}?"), top_k=5, model_label="m"
                )
                bad = store.add_turn(
                    first.conversation_id,
                    sample_answer(f"Bad for {user}?"),
                    top_k=5,
                    model_label="m",
                )
                store.set_feedback(bad.id, "down", f"Wrong, says {user}.")
                store.set_feedback(first.id, "up")

        done = runner.invoke(app, ["regress", "--from-feedback"])
        assert done.exit_code == 0 and "Wrote 3 cases for review" in done.output, done.output
        path = Path("msrag-cases.yaml")
        suite = load_suite(path)  # the case file stays valid
        assert sorted(c.question for c in suite.cases) == sorted(f"Bad for {u}?" for u in users)
        assert all(len(c.history) == 2 for c in suite.cases)
        blocks = path.read_text().split("\n\n")[1:]
        for user in users:
            (block,) = [b for b in blocks if f"question: Bad for {user}?" in b]
            assert f"# from user: {user}\n" in block and f"# comment: Wrong, says {user}." in block

        path.unlink()
        done = runner.invoke(app, ["regress", "--from-feedback", "--user", "header:alice@x"])
        assert done.exit_code == 0 and "Wrote 1 case for review" in done.output, done.output
        text = path.read_text()
        assert [c.question for c in load_suite(path).cases] == ["Bad for header:alice@x?"]
        assert "# from user: header:alice@x" in text

        path.unlink()
        done = runner.invoke(app, ["regress", "--from-feedback", "--user", "bob@y"])
        assert [c.question for c in load_suite(path).cases] == ["Bad for oidc:bob@y?"]
        with ConversationStore(db) as store:  # exporting wrote nothing: local still sees its own
            assert [t.question for t in store.rated("down")] == ["Bad for local?"]

        done = runner.invoke(app, ["regress", "--user", "bob@y"])
        assert done.exit_code == 2 and "--user goes with --from-feedback" in done.output
