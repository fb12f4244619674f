"""The "teams, hardened" rules without a page: namespaced owner keys and reserved names, the
repeated identity header, an audit log that survives its file being moved, and `denied`
entries. Real SQLite files and Streamlit's own headers object; no mocks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from streamlit.runtime.context import StreamlitHeaders

from assistant.conversations import LOCAL_USER, ConversationStore
from assistant.types import Answer
from teams.audit import ACTIONS, AuditLog
from teams.errors import SignInRefusedError
from teams.identity import Identities
from tests.assistant.conftest import llm_settings

HEADER = "X-Forwarded-Email"


def _ids(tmp_path: Path, auth: str = "header") -> Identities:
    return Identities(llm_settings(None, tmp_path, auth=auth))


def _answer(question: str) -> Answer:
    return Answer(question=question, standalone_question=question, text="An answer.")


class TestNamespaces:
    def test_keys_are_namespaced_by_sign_in_mode(self, tmp_path: Path) -> None:
        ids = _ids(tmp_path)
        bob = ids.from_headers({HEADER: "Bob@Example.com"})
        assert bob is not None and (bob.name, bob.key) == (
            "bob@example.com",
            "header:bob@example.com",
        )
        assert ids.signed_in("bob@example.com", "oidc").key == "oidc:bob@example.com"
        assert ids.local().key == LOCAL_USER  # the operator keeps `local` (CLI, none mode)
        assert ids.user("bob@example.com").key == "bob@example.com"  # `--as` on the CLI

    @pytest.mark.parametrize("name", ["local", "LOCAL", " local ", "cli:root", "header:bob@x.org"])
    def test_a_reserved_name_is_refused_in_header_and_oidc_mode(
        self, tmp_path: Path, name: str
    ) -> None:
        ids = _ids(tmp_path)
        assert ids.from_headers({HEADER: name}) is None
        with pytest.raises(SignInRefusedError, match="reserved") as refused:
            ids.sign_in({HEADER: name})
        assert refused.value.kind == "reserved" and refused.value.claimed == name.strip()
        with pytest.raises(SignInRefusedError, match="reserved"):
            ids.signed_in(name, "oidc")

    def test_a_signed_in_user_never_opens_the_operators_conversations(self, tmp_path: Path) -> None:
        db = tmp_path / "conversations.db"
        with ConversationStore(db) as operator:  # as `msrag chat` and MSRAG_AUTH=none save them
            saved = operator.add_turn(None, _answer("Operator's secret?"), top_k=5, model_label="x")
        ids = _ids(tmp_path)
        for name in ("local@example.com", "someone@example.com"):
            user = ids.from_headers({HEADER: name})
            assert user is not None
            with ConversationStore(db, user_id=user.key) as theirs:
                assert theirs.conversations() == []
                assert theirs.get(saved.conversation_id) is None
                assert theirs.turns(saved.conversation_id) == []
                assert theirs.belongs_to_another(saved.conversation_id)
        with ConversationStore(db, user_id=ids.local().key) as operator:  # still the operator's
            assert [c.id for c in operator.conversations()] == [saved.conversation_id]
            assert not operator.belongs_to_another(saved.conversation_id)


    def test_conversations_saved_under_a_bare_name_move_to_the_namespaced_key(
        self, tmp_path: Path
    ) -> None:
        db = tmp_path / "conversations.db"
        # how header mode saved them before owners were namespaced; and the operator's own
        with ConversationStore(db, user_id="bob@example.com") as before:
            bobs = before.add_turn(None, _answer("Bob's question?"), top_k=5, model_label="x")
        with ConversationStore(db) as operator:
            mine = operator.add_turn(None, _answer("Operator's?"), top_k=5, model_label="x")
        bob = _ids(tmp_path).from_headers({HEADER: "bob@example.com"})
        assert bob is not None
        with ConversationStore(db, user_id=bob.key) as after:
            assert [c.id for c in after.conversations()] == [bobs.conversation_id]
        with ConversationStore(db, user_id="bob@example.com") as bare:  # nobody signs in bare
            assert bare.conversations() == []
        with ConversationStore(db) as operator:
            assert [c.id for c in operator.conversations()] == [mine.conversation_id]

class TestRepeatedHeader:
    def test_a_repeated_header_is_refused_not_read_as_its_first_value(self, tmp_path: Path) -> None:
        ids = _ids(tmp_path)
        headers = StreamlitHeaders(
            [(HEADER, "alice@example.com"), ("host", "x"), (HEADER.lower(), "eve@example.com")]
        )
        assert headers[HEADER] == "alice@example.com"  # what a Mapping read would have trusted
        assert ids.from_headers(headers) is None
        with pytest.raises(SignInRefusedError, match="2 times") as refused:
            ids.sign_in(headers)
        assert refused.value.kind == "repeated"
        assert refused.value.claimed == "alice@example.com, eve@example.com"

    def test_two_spellings_in_a_plain_mapping_are_a_repeat_too(self, tmp_path: Path) -> None:
        ids = _ids(tmp_path)
        assert ids.from_headers({HEADER: "alice@example.com", HEADER.lower(): "eve@x.org"}) is None

    def test_one_header_among_others_signs_in(self, tmp_path: Path) -> None:
        headers = StreamlitHeaders([("host", "x"), (HEADER.lower(), "alice@example.com")])
        assert _ids(tmp_path).sign_in(headers).name == "alice@example.com"
        with pytest.raises(SignInRefusedError) as refused:
            _ids(tmp_path).sign_in(StreamlitHeaders([("host", "x")]))
        assert refused.value.kind == "missing"


class TestAuditLog:
    def test_the_table_is_made_again_in_a_new_file(self, tmp_path: Path) -> None:
        path = tmp_path / "conversations.db"
        log = AuditLog(path)
        log.record("alice@example.com", "grant", "docs/a.md")
        path.rename(tmp_path / "moved-aside.db")  # e.g. a backup script, while the page runs
        log.record("alice@example.com", "revoke", "docs/a.md")
        assert [e.action for e in log.entries()] == ["revoke"]
        with sqlite3.connect(tmp_path / "moved-aside.db") as old:
            assert [r[0] for r in old.execute("SELECT action FROM audit")] == ["grant"]

    def test_a_dropped_table_is_made_again(self, tmp_path: Path) -> None:
        path = tmp_path / "conversations.db"
        log = AuditLog(path)
        log.record("alice@example.com", "grant", "docs/a.md")
        with sqlite3.connect(path) as db:  # same file, table gone (a restore of an old copy)
            db.execute("DROP TABLE audit")
        log.record("alice@example.com", "revoke", "docs/a.md", strict=True)
        assert [e.action for e in log.entries()] == ["revoke"]

    def test_strict_entries_and_the_write_check_fail_loudly(self, tmp_path: Path) -> None:
        blocked = tmp_path / "folder.db"
        blocked.mkdir()
        log = AuditLog(blocked)
        log.record("bob@example.com", "ask", "Holidays?")  # a question's entry: logged, not raised
        with pytest.raises(Exception, match="never made unrecorded"):
            log.require_writable()
        with pytest.raises(Exception, match="never made unrecorded"):
            log.record("alice@example.com", "grant", "docs/a.md", strict=True)

    def test_entries_by_action(self, tmp_path: Path) -> None:
        log = AuditLog(tmp_path / "c.db")
        log.record("(nobody)", "denied", "sign-in (header): the request has no header")
        log.record("bob@example.com", "sign-in", "signed in (header)")
        log.record("bob@example.com", "ask", "Holidays?")
        assert [e.action for e in log.entries(action="denied")] == ["denied"]
        assert [e.user for e in log.entries(action="sign-in")] == ["bob@example.com"]
        assert len(log.entries()) == 3
        assert {"denied", "sign-in", "ask", "grant"} <= set(ACTIONS)
