"""The audited assistant: an `Assistant` of the same parts that records every finished turn —
`ask` and `stream` alike — once, with the documents it revealed and the user's access."""

from __future__ import annotations

from pathlib import Path

from assistant.audited import answer_doc_ids, audited
from assistant.chat import Assistant
from assistant.types import DoneEvent
from retrieval.types import Passage
from teams.audit import AuditLog
from teams.identity import User
from tests.assistant.conftest import StaticRetriever, llm_settings

BOB = User("bob@example.com", ("hr",))
ALICE = User("alice@example.com", ("admins",), admin=True)


def test_each_turn_is_recorded_once(tmp_path: Path, passages: list[Passage]) -> None:
    log = AuditLog(tmp_path / "conversations.db")
    base = Assistant(llm_settings(None, tmp_path), StaticRetriever(passages))
    bot = audited(base, log, BOB)
    answer = bot.ask("When was Ada born?")
    events = list(bot.stream("Who built the Cape Wrath lighthouse?"))
    streamed = events[-1]
    assert isinstance(streamed, DoneEvent)
    entries = list(reversed(log.entries()))
    assert [(e.user, e.action, e.detail, e.groups) for e in entries] == [
        (BOB.name, "ask", "When was Ada born?", ("hr",)),
        (BOB.name, "ask", "Who built the Cape Wrath lighthouse?", ("hr",)),
    ]
    assert entries[0].doc_ids == tuple(dict.fromkeys(answer_doc_ids(answer)))
    assert entries[1].doc_ids == tuple(dict.fromkeys(answer_doc_ids(streamed.answer)))
    assert entries[0].doc_ids  # the passages sent (or left out) are on the record

    base.ask("When was Ada born?")  # the assistant it was made from records nothing
    assert len(log.entries()) == 2


def test_a_refused_turn_and_an_admin_are_recorded_too(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "conversations.db")
    bot = audited(Assistant(llm_settings(None, tmp_path), StaticRetriever([])), log, ALICE)
    assert bot.ask("Anything about quokkas?").refused
    [entry] = log.entries()
    assert (entry.user, entry.doc_ids, entry.groups) == (ALICE.name, (), ("*",))


def test_it_is_an_assistant_of_the_same_parts(tmp_path: Path, passages: list[Passage]) -> None:
    base = Assistant(llm_settings(None, tmp_path), StaticRetriever(passages))
    bot = audited(base, AuditLog(tmp_path / "conversations.db"), BOB)
    assert type(bot) is Assistant and bot is not base
    assert base.on_answer is None  # left as it was
    assert (bot.settings, bot.retriever, bot.llm, bot.prompts, bot.extractor) == (
        base.settings, base.retriever, base.llm, base.prompts, base.extractor
    )  # fmt: skip
