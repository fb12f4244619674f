"""The conversation store on a real SQLite file: round trips, search, feedback, schema, faults."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from assistant.conversations import (
    SCHEMA_VERSION,
    ConversationStore,
    HistoryError,
    prompt_hash,
    title_from,
)
from tests.assistant.helpers import read_only, sample_answer


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ConversationStore]:
    with ConversationStore(tmp_path / "history" / "conversations.db") as s:
        yield s


class TestRoundTrip:
    def test_a_turn_keeps_everything_the_page_showed(self, store: ConversationStore) -> None:
        answer = sample_answer()
        saved = store.add_turn(None, answer, top_k=4, model_label="gpt-4o-mini at http://x")
        [turn] = store.turns(saved.conversation_id)
        # every field, sources and their order included; the prompt itself is kept as its hash
        assert turn.answer == replace(answer, messages=[], condense_messages=[])
        assert (turn.position, turn.top_k, turn.model_label) == (1, 4, "gpt-4o-mini at http://x")
        assert turn.prompt_hash == prompt_hash(answer) == saved.prompt_hash
        assert turn.answer.sources[0].sentences == ("Ada was born [1].",)
        assert turn.answer.timings.retrieve_ms == 12.5

    def test_the_prompt_hash_changes_with_the_prompt(self) -> None:
        one, other = sample_answer(), sample_answer()
        other.messages = [{"role": "user", "content": "something else"}]
        assert prompt_hash(one) != prompt_hash(other)

    def test_survives_reopening(self, tmp_path: Path) -> None:
        path = tmp_path / "c.db"
        with ConversationStore(path) as first:
            cid = first.add_turn(None, sample_answer(), top_k=5, model_label="m").conversation_id
            first.add_turn(cid, sample_answer("And her father?"), top_k=5, model_label="m")
        with ConversationStore(path) as again:
            assert [t.question for t in again.turns(cid)] == [
                "When was Ada Lovelace born?",
                "And her father?",
            ]
        assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


class TestConversations:
    def test_listed_newest_first_titled_by_the_first_question(
        self, store: ConversationStore
    ) -> None:
        a = store.add_turn(
            None, sample_answer("First one?"), top_k=5, model_label="m"
        ).conversation_id
        b = store.add_turn(
            None, sample_answer("Second one?"), top_k=5, model_label="m"
        ).conversation_id
        assert [c.id for c in store.conversations()] == [b, a]
        store.add_turn(a, sample_answer("Follow-up"), top_k=5, model_label="m")
        listed = store.conversations()
        assert [(c.id, c.title, c.turns) for c in listed] == [
            (a, "First one?", 2),
            (b, "Second one?", 1),
        ]

    def test_a_long_first_question_makes_a_short_one_line_title(self) -> None:
        title = title_from("word\n" * 100)
        assert len(title) <= 80 and "\n" not in title and title.endswith("…")

    def test_search_matches_titles_and_questions_literally(self, store: ConversationStore) -> None:
        a = store.add_turn(
            None, sample_answer("About Ada"), top_k=5, model_label="m"
        ).conversation_id
        store.add_turn(a, sample_answer("What is 100% of_it?"), top_k=5, model_label="m")
        b = store.add_turn(
            None, sample_answer("Holidays"), top_k=5, model_label="m"
        ).conversation_id
        store.rename(b, "Northwind leave")
        assert [c.id for c in store.conversations("ada")] == [a]
        assert [c.id for c in store.conversations("100% of_")] == [a]
        assert [c.id for c in store.conversations("%")] == [a]  # a literal percent sign
        assert [c.id for c in store.conversations("northwind")] == [b]
        assert store.conversations("nothing like this") == []

    def test_rename_and_delete(self, store: ConversationStore) -> None:
        cid = store.add_turn(None, sample_answer(), top_k=5, model_label="m").conversation_id
        turn_id = store.turns(cid)[0].id
        store.set_feedback(turn_id, "down", "wrong date")
        store.rename(cid, "  Ada\n  notes ")
        assert store.get(cid).title == "Ada notes"
        with pytest.raises(ValueError, match="cannot be empty"):
            store.rename(cid, " \n ")
        store.delete(cid)
        assert store.get(cid) is None and store.turns(cid) == []
        assert store.rated("down") == []  # feedback went with its turn

    def test_markup_control_characters_and_long_text_are_stored_as_given(
        self, store: ConversationStore
    ) -> None:
        nasty = "<script>alert(1)</script> [x](javascript:alert(1)) \x00\x07\u202e" + "é" * 10_000
        cid = store.add_turn(None, sample_answer(nasty), top_k=5, model_label="m").conversation_id
        store.rename(cid, nasty)
        turn = store.turns(cid)[0]
        store.set_feedback(turn.id, "down", nasty)
        assert store.get(cid).title == " ".join(nasty.split())
        assert store.turns(cid)[0].question == nasty
        assert store.turns(cid)[0].feedback.comment == nasty

    def test_users_see_only_their_own_conversations(self, tmp_path: Path) -> None:
        path = tmp_path / "c.db"
        with (
            ConversationStore(path, user_id="ann") as ann,
            ConversationStore(path, user_id="bob") as bob,
        ):
            cid = ann.add_turn(None, sample_answer(), top_k=5, model_label="m").conversation_id
            assert bob.conversations() == [] and bob.get(cid) is None and bob.turns(cid) == []
            bob.delete(cid)
            bob.rename(cid, "mine now")
            assert ann.get(cid).title == "When was Ada Lovelace born?"
            # appending to someone else's conversation starts a new one of your own
            other = bob.add_turn(cid, sample_answer("Mine"), top_k=5, model_label="m")
            assert other.conversation_id != cid and len(ann.turns(cid)) == 1
            with pytest.raises(ValueError, match="no turn"):
                bob.set_feedback(ann.turns(cid)[0].id, "up")


class TestFeedback:
    def test_rating_and_comment_are_kept_with_the_turn(self, store: ConversationStore) -> None:
        turn = store.add_turn(None, sample_answer(), top_k=5, model_label="m")
        assert store.turn(turn.id).feedback is None
        store.set_feedback(turn.id, "up")
        store.set_feedback(turn.id, "down", "It was 1815, not 1816.")
        fb = store.turn(turn.id).feedback
        assert (fb.rating, fb.comment) == ("down", "It was 1815, not 1816.")
        with pytest.raises(ValueError, match="rating"):
            store.set_feedback(turn.id, "meh")  # type: ignore[arg-type]

    def test_rated_turns_since_a_date(self, store: ConversationStore) -> None:
        down = store.add_turn(None, sample_answer("bad"), top_k=5, model_label="m")
        up = store.add_turn(None, sample_answer("good"), top_k=5, model_label="m")
        store.set_feedback(down.id, "down", "wrong")
        store.set_feedback(up.id, "up")
        assert [t.question for t in store.rated("down")] == ["bad"]
        future = datetime.now(UTC) + timedelta(days=1)
        assert store.rated("down", since=future) == []
        assert len(store.rated("down", since=datetime.now(UTC) - timedelta(days=1))) == 1

    def test_rated_by_everyone_names_each_user_and_reads_one_by_key_or_bare_name(
        self, tmp_path: Path
    ) -> None:
        db = tmp_path / "c.db"
        for user in ("local", "header:alice@x", "oidc:bob@y", "header:a_b"):
            with ConversationStore(db, user_id=user) as own:
                first = own.add_turn(None, sample_answer(f"q {user}"), top_k=5, model_label="m")
                bad = own.add_turn(
                    first.conversation_id, sample_answer(f"bad {user}"), top_k=5, model_label="m"
                )
                own.set_feedback(bad.id, "down")
        before = db.read_bytes()
        with ConversationStore(db) as store:
            every = store.rated_by_everyone("down")
            assert [(r.user_id, r.turn.question) for r in every] == [
                (u, f"bad {u}") for u in ("local", "header:alice@x", "oidc:bob@y", "header:a_b")
            ]
            assert all([t.question for t in r.earlier] == [f"q {r.user_id}"] for r in every)
            assert [r.user_id for r in store.rated_by_everyone("down", user="header:alice@x")] == [
                "header:alice@x"
            ]
            assert [r.user_id for r in store.rated_by_everyone("down", user="bob@y")] == [
                "oidc:bob@y"
            ]
            assert store.rated_by_everyone("down", user="a%") == []  # LIKE wildcards escaped
            assert store.rated_by_everyone("down", user="aXb") == []
            assert store.rated_by_everyone("up") == []
        assert db.read_bytes() == before  # read-only


# --- faults: the file is never changed, the message is one sentence ------------------------------


def _one_sentence(message: str) -> None:
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message


def _seed(path: Path) -> int:
    with ConversationStore(path) as s:
        return s.add_turn(None, sample_answer(), top_k=5, model_label="m").conversation_id


class TestFaults:
    def test_a_missing_file_and_folder_are_created(self, tmp_path: Path) -> None:
        path = tmp_path / "not" / "yet" / "conversations.db"
        with ConversationStore(path) as s:
            assert s.conversations() == []
        assert path.exists()

    def test_a_corrupt_file_is_reported_and_left_untouched(self, tmp_path: Path) -> None:
        path = tmp_path / "c.db"
        path.write_bytes(b"this is not sqlite at all " * 200)
        before = path.read_bytes()
        with pytest.raises(HistoryError, match="not a readable SQLite database") as caught:
            ConversationStore(path)
        _one_sentence(str(caught.value))
        assert path.read_bytes() == before

    def test_a_newer_schema_is_refused_and_left_untouched(self, tmp_path: Path) -> None:
        path = tmp_path / "c.db"
        cid = _seed(path)
        db = sqlite3.connect(path)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        db.close()
        with pytest.raises(HistoryError, match="newer msrag") as caught:
            ConversationStore(path)
        _one_sentence(str(caught.value))
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert db.execute("SELECT id FROM conversations").fetchall() == [(cid,)]

    def test_an_older_schema_is_migrated_keeping_its_rows(self, tmp_path: Path) -> None:
        # Version 0 is an empty file someone created by hand; later versions add to what's there.
        path = tmp_path / "c.db"
        sqlite3.connect(path).execute("CREATE TABLE notes (x TEXT)").connection.commit()
        with ConversationStore(path) as s:
            assert s.conversations() == []
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT count(*) FROM notes").fetchone()[0] == 0  # not dropped

    def test_locked_by_another_process(self, tmp_path: Path) -> None:
        path = tmp_path / "c.db"
        cid = _seed(path)
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(
                    f"""
                    import sqlite3, sys
                    db = sqlite3.connect({str(path)!r}, isolation_level=None)
                    db.execute("BEGIN EXCLUSIVE")
                    db.execute("UPDATE conversations SET title = 'held'")
                    print("locked", flush=True)
                    sys.stdin.readline()
                    db.execute("ROLLBACK")
                    """
                ),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "locked"
            with ConversationStore(path, timeout=0.2) as s:
                # WAL: reading goes on while another process writes
                assert [c.id for c in s.conversations()] == [cid]
                with pytest.raises(HistoryError, match="locked by another process") as caught:
                    s.add_turn(cid, sample_answer("while locked"), top_k=5, model_label="m")
                _one_sentence(str(caught.value))
        finally:
            holder.stdin.write("\n")
            holder.stdin.flush()
            holder.wait(timeout=10)
        with ConversationStore(path) as s:
            assert [t.question for t in s.turns(cid)] == ["When was Ada Lovelace born?"]
            s.add_turn(cid, sample_answer("after"), top_k=5, model_label="m")  # writable again
            assert len(s.turns(cid)) == 2

    def test_read_only_file_reads_but_refuses_writes(self, tmp_path: Path) -> None:
        path = tmp_path / "c.db"
        cid = _seed(path)
        with read_only(path), ConversationStore(path) as s:
            assert [t.question for t in s.turns(cid)] == ["When was Ada Lovelace born?"]
            with pytest.raises(HistoryError, match="read-only") as caught:
                s.add_turn(cid, sample_answer("lost?"), top_k=5, model_label="m")
            _one_sentence(str(caught.value))
        with ConversationStore(path) as s:
            assert len(s.turns(cid)) == 1

    def test_a_folder_that_cannot_be_created(self, tmp_path: Path) -> None:
        blocker = tmp_path / "file"
        blocker.write_text("a file where a folder should be")
        with pytest.raises(HistoryError, match="cannot be created") as caught:
            ConversationStore(blocker / "conversations.db")
        _one_sentence(str(caught.value))


class TestBackup:
    def test_sqlite_backup_while_another_process_writes_is_complete_and_consistent(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "c.db"
        cid = _seed(path)
        writer = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(
                    f"""
                    from pathlib import Path
                    from assistant.conversations import ConversationStore
                    from tests.assistant.helpers import sample_answer
                    with ConversationStore(Path({str(path)!r})) as s:
                        print("writing", flush=True)
                        for i in range(150):
                            s.add_turn({cid}, sample_answer(f"q{{i}}"), top_k=5, model_label="m")
                    """
                ),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        try:
            assert writer.stdout.readline().strip() == "writing"
            backup = tmp_path / "backup.db"
            with sqlite3.connect(path) as source, sqlite3.connect(backup) as target:
                source.backup(target)  # what `sqlite3 c.db ".backup backup.db"` does
        finally:
            assert writer.wait(timeout=120) == 0
        check = sqlite3.connect(backup)
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        check.close()
        with ConversationStore(backup) as copy:
            positions = [t.position for t in copy.turns(cid)]
        # every committed turn up to the moment of the backup, none half-written
        assert positions == list(range(1, len(positions) + 1)) and len(positions) >= 1
        with ConversationStore(path) as live:
            assert len(live.turns(cid)) == 151
