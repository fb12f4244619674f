"""The "teams, hardened" rules through the page (AppTest over the real store, real SQLite):
a signed-in `local` is refused and never sees the operator's conversations, another user's
`?c=` link and refused sign-ins are `denied` entries, and the Documents page's audit log filters
by action. The repeated header needs a real request (AppTest sends no headers): a real server
and a raw WebSocket handshake that carries the header twice."""

from __future__ import annotations

import asyncio
import html
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from assistant.conversations import ConversationStore
from assistant.types import Answer
from retrieval.ingest.offline import OfflineModels
from teams.audit import AuditEntry, AuditLog
from tests.ui.conftest import APP, page_env
from tests.ui.page_server import serve_page
from ui.signin import REPEATED_HEADER

TIMEOUT = 120
SECRET_Q = "What is the operator's private question?"


def _audit(data: Path, action: str | None = None) -> list[AuditEntry]:
    return AuditLog(data / "conversations.db").entries(action=action)


def _operator_conversation(data: Path) -> int:
    """A conversation saved as `msrag chat` and MSRAG_AUTH=none save them (user id `local`)."""
    answer = Answer(question=SECRET_Q, standalone_question=SECRET_Q, text="Only for the operator.")
    with ConversationStore(data / "conversations.db") as store:
        return store.add_turn(None, answer, top_k=5, model_label="extractive").conversation_id


def _oidc(monkeypatch: pytest.MonkeyPatch, email: str, c: int | None = None) -> AppTest:
    monkeypatch.setenv("MSRAG_AUTH", "oidc")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.user = {"is_logged_in": True, "email": email}
    if c is not None:
        at.query_params["c"] = str(c)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _everything(at: AppTest) -> str:
    parts = [m.value for m in [*at.markdown, *at.caption, *at.info, *at.error, *at.title]]
    parts += [b.label for b in at.sidebar.button]
    return html.unescape("\n".join(parts))


class TestNamespaces:
    def test_a_signed_in_local_is_refused_and_sees_nothing(
        self, page: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        cid = _operator_conversation(page)
        at = _oidc(monkeypatch, "local", c=cid)
        assert [t.value for t in at.title] == ["Sign-in refused"]
        assert not at.chat_input and SECRET_Q not in _everything(at)
        [entry] = _audit(page, "denied")
        assert entry.user == "local" and "reserved" in entry.detail and "oidc" in entry.detail

    def test_another_users_link_is_unknown_to_them_and_recorded(
        self, page: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        cid = _operator_conversation(page)
        at = _oidc(monkeypatch, "bob@example.com", c=cid)
        assert SECRET_Q not in _everything(at) and not at.chat_message
        assert any(f"There is no conversation {cid}" in n.value for n in at.info)
        [denied] = _audit(page, "denied")
        assert denied.user == "bob@example.com"
        assert denied.detail == f"conversation {cid} (?c= link): another user's conversation"
        [signed_in] = _audit(page, "sign-in")
        assert signed_in.user == "bob@example.com"
        # bob's own conversation is saved under his namespaced key, apart from the operator's
        at.chat_input[0].set_value("When was Ada Lovelace born?").run()
        with ConversationStore(page / "conversations.db", user_id="oidc:bob@example.com") as s:
            assert [c.title for c in s.conversations()] == ["When was Ada Lovelace born?"]
        with ConversationStore(page / "conversations.db") as operator:
            assert [c.id for c in operator.conversations()] == [cid]


class TestRefusedSignIn:
    def test_no_header_is_a_denied_entry(self, page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MSRAG_AUTH", "header")
        monkeypatch.setenv("MSRAG_TRUSTED_PROXY", "true")  # AppTest has no server address
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
        assert [t.value for t in at.title] == ["Sign-in required"]
        [entry] = _audit(page)
        assert (entry.user, entry.action) == ("(nobody)", "denied")
        assert entry.detail == "sign-in (header): the request has no X-Forwarded-Email header"

    def test_a_repeated_header_is_refused_with_a_sentence_and_recorded(
        self, offline_model_dirs: OfflineModels, page_data: Path, tmp_path: Path
    ) -> None:
        env = page_env(offline_model_dirs, page_data)
        env["MSRAG_AUTH"] = "header"
        with serve_page(env, tmp_path) as served:
            sent = asyncio.run(
                _first_run(
                    served.url,
                    [
                        ("X-Forwarded-Email", "eve@example.com"),
                        ("X-Forwarded-Email", "alice@example.com"),
                    ],
                )
            )
        text = html.unescape(sent.decode("utf-8", errors="replace"))
        assert "Sign-in refused" in text, text[-2000:]
        assert REPEATED_HEADER in text  # the one sentence saying why
        assert "Ask about your documents" not in text  # no chat
        [entry] = _audit(page_data)
        assert (entry.user, entry.action) == ("eve@example.com, alice@example.com", "denied")
        assert "X-Forwarded-Email header 2 times" in entry.detail


class TestAuditView:
    def test_the_audit_log_filters_by_action(self, page: Path) -> None:
        log = AuditLog(page / "conversations.db")
        log.record("(nobody)", "denied", "sign-in (header): the request has no header")
        log.record("bob@example.com", "denied", "delete docs/a.md: not an admin", groups=["hr"])
        log.record("bob@example.com", "sign-in", "signed in (header)", groups=["hr"])
        log.record("bob@example.com", "ask", "Holidays?", groups=["hr"])
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
        at.switch_page("documents_page.py").run()
        assert not at.exception, [e.value for e in at.exception]
        box = at.selectbox(key="audit-action")
        assert box.value == "all" and {"denied", "sign-in"} <= set(box.options)

        def actions() -> list[str]:
            [table] = [t for t in at.table if "action" in t.value.columns]
            return list(table.value["action"])

        assert actions() == ["ask", "sign-in", "denied", "denied"]
        box.set_value("denied").run()
        assert actions() == ["denied", "denied"]
        at.selectbox(key="audit-action").set_value("sign-in").run()
        assert actions() == ["sign-in"]
        at.selectbox(key="audit-action").set_value("upload").run()
        assert not [t for t in at.table if "action" in t.value.columns]
        assert any(c.value == "No upload entries." for c in at.caption)


async def _first_run(url: str, headers: list[tuple[str, str]]) -> bytes:
    """What the server sends a browser that opens `url` with `headers` (repeats kept) during
    the page's first run: the bytes of every message until a quiet spell after the title."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg

    ws_url = url.replace("http://", "ws://").rstrip("/") + "/_stcore/stream"
    received = b""
    async with websockets.connect(
        ws_url, additional_headers=headers, subprotocols=["streamlit"], max_size=None
    ) as ws:
        msg = BackMsg()
        msg.rerun_script.query_string = ""
        msg.rerun_script.page_script_hash = ""
        await ws.send(msg.SerializeToString())
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                data = await asyncio.wait_for(ws.recv(), timeout=3)
            except TimeoutError:
                if b"Sign-in" in received:
                    break
                continue
            received += data if isinstance(data, bytes) else data.encode()
    return received
