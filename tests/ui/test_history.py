"""Saved conversations on the Chat page (AppTest over the real store and a real SQLite file)."""

from __future__ import annotations

import html
import re
import sqlite3
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from assistant.conversations import SCHEMA_VERSION, ConversationStore
from tests.assistant.helpers import read_only
from tests.ui.conftest import APP

TIMEOUT = 120
ADA = "When was Ada Lovelace born?"
BALLOON = "How high did the Zephyr-9 balloon reach?"


def _page(c: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    if c is not None:
        at.query_params["c"] = c
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _ask(at: AppTest, question: str) -> AppTest:
    at.chat_input[0].set_value(question).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


def _notes(at: AppTest) -> list[str]:
    return [html.unescape(x.value) for x in [*at.info, *at.error, *at.warning]]


def _store(data: Path) -> ConversationStore:
    return ConversationStore(data / "conversations.db")


def _open_buttons(at: AppTest) -> list:
    return [b for b in at.sidebar.button if (b.key or "").startswith("open-")]


class TestSaved:
    def test_turns_are_saved_and_a_link_brings_them_back_with_sources(self, page: Path) -> None:
        at = _ask(_ask(_page(), ADA), BALLOON)
        cid = at.session_state["conversation_id"]
        assert at.query_params["c"] == [str(cid)] or at.query_params["c"] == str(cid)
        with _store(page) as store:
            turns = store.turns(cid)
            assert [t.question for t in turns] == [ADA, BALLOON]
            assert store.get(cid).title == ADA
            assert turns[0].answer.sources and turns[0].model_label.startswith("no LLM")

        again = _page(str(cid))  # a reload: a fresh session with the link
        assert [m.name for m in again.chat_message] == ["user", "assistant"] * 2
        assert "1815" in _text(again.chat_message[1].markdown[0].value)
        # the latest answer shows its sources; an older one behind its "Sources" toggle
        last = again.chat_message[3].markdown
        assert any("msrag-source-head" in m.value for m in last)
        assert not any("msrag-source-head" in m.value for m in again.chat_message[1].markdown)
        turn = again.session_state["messages"][1]["turn"]
        again.toggle(key=f"sources-{turn}").set_value(True).run()
        heads = [m.value for m in again.chat_message[1].markdown if "msrag-source-head" in m.value]
        assert heads and "score " in heads[0] and "· rank " in heads[0]
        # "why this passage" works on a redrawn turn
        answer = again.session_state["messages"][1]["answer"]
        birth = next(s.number for s in answer.sources if "was born on" in s.text)
        next(t for t in again.toggle if t.key == f"why-{turn}-{birth}-c").set_value(True).run()
        assert any("msrag-why" in m.value for m in again.markdown)
        # …and the conversation continues in the same record
        _ask(again, "And where?")
        with _store(page) as store:
            assert len(store.turns(cid)) == 3

    @pytest.mark.parametrize(
        ("value", "says"),
        [("abc", "not a conversation number"), ("999", "There is no conversation 999")],
    )
    def test_a_bad_link_is_a_note_and_a_new_conversation(
        self, page: Path, value: str, says: str
    ) -> None:
        at = _page(value)
        assert any(says in n for n in _notes(at)), _notes(at)
        assert "c" not in at.query_params and not at.chat_message
        _ask(at, ADA)
        assert at.session_state["conversation_id"] != 999

    def test_sidebar_lists_newest_first_opens_searches_renames_and_deletes(
        self, page: Path
    ) -> None:
        at = _ask(_page(), ADA)
        first = at.session_state["conversation_id"]
        next(b for b in at.sidebar.button if b.label == "New chat").click().run()
        _ask(at, BALLOON)
        second = at.session_state["conversation_id"]
        assert [b.key for b in _open_buttons(at)] == [f"open-{second}", f"open-{first}"]

        at.sidebar.text_input(key="conversation_search").set_value("ada").run()
        assert [b.key for b in _open_buttons(at)] == [f"open-{first}"]
        at.sidebar.text_input(key="conversation_search").set_value("").run()

        next(b for b in _open_buttons(at) if b.key == f"open-{first}").click().run()
        assert at.session_state["conversation_id"] == first
        assert "1815" in _text(at.chat_message[1].markdown[0].value)

        rename = next(t for t in at.sidebar.text_input if t.label == "Title")
        rename.set_value("Ada's birthday").run()
        next(b for b in at.sidebar.button if b.label == "Rename").click().run()
        with _store(page) as store:
            assert store.get(first).title == "Ada's birthday"

        next(b for b in at.sidebar.button if b.key == "delete-ask").click().run()
        assert any("cannot be undone" in w.value for w in at.sidebar.warning)
        next(b for b in at.sidebar.button if b.key == "delete-no").click().run()
        with _store(page) as store:
            assert store.get(first) is not None
        next(b for b in at.sidebar.button if b.key == "delete-ask").click().run()
        next(b for b in at.sidebar.button if b.key == "delete-yes").click().run()
        with _store(page) as store:
            assert store.get(first) is None and store.get(second) is not None
        assert not at.chat_message and at.session_state["conversation_id"] is None

    def test_titles_with_markup_and_control_characters_are_inert(self, page: Path) -> None:
        nasty = "<img src=x onerror=alert(1)> **bold** [x](javascript:alert(1)) \x07" + "z" * 10_000
        at = _ask(_page(), ADA)
        cid = at.session_state["conversation_id"]
        with _store(page) as store:
            store.rename(cid, nasty)
        at.run()
        [button] = _open_buttons(at)
        label = button.label
        assert "<img" not in label and "](" not in label and "**" not in label
        assert len(html.unescape(label)) < 60
        assert "<img src=x" in html.unescape(label)  # shown as the characters typed
        assert at.download_button  # the Markdown download is offered (made when clicked)


class TestFaults:
    """The history cannot be used: the chat still answers, one sentence says why, nothing lost."""

    def _answers_and_says(self, at: AppTest, says: str) -> str:
        _ask(at, ADA)
        assert "1815" in _text(at.chat_message[1].markdown[0].value)
        notes = [n for n in _notes(at) if says in n]
        assert notes, _notes(at)
        assert "Traceback" not in notes[0] and notes[0].count(". ") == 0
        return notes[0]

    def test_corrupt_file(self, page: Path) -> None:
        path = page / "conversations.db"
        path.write_bytes(b"definitely not sqlite " * 100)
        before = path.read_bytes()
        self._answers_and_says(_page(), "not a readable SQLite database")
        assert path.read_bytes() == before

    def test_newer_schema(self, page: Path) -> None:
        with _store(page) as store:
            store.create("kept")
        sqlite3.connect(page / "conversations.db").execute(
            f"PRAGMA user_version = {SCHEMA_VERSION + 5}"
        ).connection.close()
        self._answers_and_says(_page(), "newer msrag")
        db = sqlite3.connect(page / "conversations.db")
        assert db.execute("SELECT title FROM conversations").fetchall() == [("kept",)]

    def test_read_only_file(self, page: Path) -> None:
        with _store(page) as store:
            kept = store.create("kept").id
        with read_only(page / "conversations.db"):
            at = _page()
            self._answers_and_says(at, "read-only")
            assert [b.key for b in _open_buttons(at)] == [f"open-{kept}"]  # still listed
        with _store(page) as store:
            assert [c.title for c in store.conversations()] == ["kept"]

    def test_missing_folder_is_created(self, page: Path, monkeypatch) -> None:
        monkeypatch.setenv("MSRAG_CONVERSATIONS_DB", str(page / "new" / "dir" / "c.db"))
        at = _ask(_page(), ADA)
        assert not _notes(at)
        with ConversationStore(page / "new" / "dir" / "c.db") as store:
            assert [c.title for c in store.conversations()] == [ADA]
