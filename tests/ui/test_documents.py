"""The Documents page (AppTest, real store): table, one document, delete, re-ingest, upload;
each change in the audit log (written by the admin service, `teams/admin.py`)."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

from teams.audit import AuditEntry, AuditLog
from tests.conftest import DEMO_DOCS
from tests.ui.conftest import APP, REPO

TIMEOUT = 120


def _documents() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at.switch_page("documents_page.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


def _audit(data: Path) -> list[AuditEntry]:
    """The page's audit log (`MSRAG_DATA_DIR/conversations.db`), newest first."""
    return AuditLog(data / "conversations.db").entries()


def _status_counts(data: Path) -> tuple[int, int]:
    """What `msrag status` says about the same store (a separate process, as a user runs it)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    env.update({k: v for k, v in os.environ.items() if k.startswith("MSRAG_")})
    result = subprocess.run(
        [sys.executable, "-m", "msrag", "status"], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = re.search(r"Documents: (\d+)\s+chunks: (\d+)", result.stdout)
    assert found, result.stdout
    return int(found.group(1)), int(found.group(2))


class TestLibrary:
    def test_table_agrees_with_msrag_status(self, page: Path) -> None:
        status = _status_counts(page)  # before the page holds the embedded store
        at = _documents()
        table = at.dataframe[0].value
        assert list(table.columns) == [
            "source", "title", "chunks", "pages", "size", "ingested (UTC)", "content hash",
            "groups",
        ]  # fmt: skip
        assert set(table["groups"]) == {"everyone"}
        assert len(table) == 8
        pdf = table[table["source"].str.endswith("lighthouse_history.pdf")].iloc[0]
        assert pdf["pages"] >= 1 and pdf["size"].endswith("KB")
        chunks = int(table["chunks"].sum())
        assert any(f"8 of 8 documents, {chunks:,} chunks" in c.value for c in at.caption)
        assert status == (8, chunks)

    def test_filter_and_open_a_document_in_chunk_order(self, page: Path) -> None:
        at = _documents()
        at.text_input(key="doc-filter").set_value("ADA").run()
        assert list(at.dataframe[0].value["source"]) == [
            s for s in at.selectbox(key="doc-open").options
        ]
        source = at.selectbox(key="doc-open").options[0]
        assert source.endswith("ada_lovelace.md")
        at.selectbox(key="doc-open").set_value(source).run()
        heads = [_text(m.value) for m in at.markdown if 'class="msrag-source-head"' in m.value]
        numbers = [int(re.match(r"\s*#(\d+)", h).group(1)) for h in heads]
        assert numbers == sorted(numbers) and numbers[0] == 0 and len(numbers) >= 2
        assert any("Early life" in h for h in heads)
        passages = [_text(m.value) for m in at.markdown if "msrag-passage" in m.value]
        assert any("1815" in p for p in passages)

    def test_delete_asks_first_and_then_the_chat_no_longer_finds_it(self, page: Path) -> None:
        at = _documents()
        source = next(
            s for s in at.selectbox(key="doc-open").options if s.endswith("ada_lovelace.md")
        )
        at.selectbox(key="doc-open").set_value(source).run()
        at.button(key="doc-delete-ask").click().run()
        assert any("cannot be undone" in w.value for w in at.warning)
        at.button(key="doc-delete-no").click().run()
        assert len(at.dataframe[0].value) == 8
        at.button(key="doc-delete-ask").click().run()
        at.button(key="doc-delete-yes").click().run()
        assert not at.exception
        assert len(at.dataframe[0].value) == 7
        assert any("Deleted" in i.value for i in at.info)
        assert at.selectbox(key="doc-open").value is None  # the deleted one is not left open
        [entry] = [e for e in _audit(page) if e.action == "delete"]
        assert (entry.user, entry.detail) == ("local", source)
        # the chat (same server process) no longer cites it
        at.switch_page("chat_page.py").run()
        at.chat_input[0].set_value("When was Ada Lovelace born?").run()
        answer = at.session_state["messages"][-1].get("answer")
        assert answer is not None
        assert all("ada_lovelace" not in s.source for s in answer.all_sources)
        assert {m.label: m.value for m in at.sidebar.metric}["Documents"] == "7"

    def test_reingest_reports_the_outcome(self, page: Path) -> None:
        at = _documents()
        source = at.selectbox(key="doc-open").options[0]
        at.selectbox(key="doc-open").set_value(source).run()
        at.button(key="doc-reingest").click().run()
        said = " ".join(html.unescape(i.value) for i in at.info)
        # the demo store was ingested from another working directory: it says so in a sentence
        assert "unchanged" in said or "ingested from another folder" in said or "is not at" in said

    def test_reingest_from_the_ingest_folder_is_audited(self, page: Path) -> None:
        at = _documents()
        source = at.selectbox(key="doc-open").options[0]
        # as if the page ran where the store was ingested from: the file is where its source says
        target = Path.cwd() / source  # (an absolute source is the demo file itself)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(DEMO_DOCS / target.name, target)
        at.selectbox(key="doc-open").set_value(source).run()
        at.button(key="doc-reingest").click().run()
        said = " ".join(html.unescape(i.value) for i in at.info)
        assert f"{source} — unchanged" in said, said
        [entry] = [e for e in _audit(page) if e.action == "reingest"]
        assert (entry.user, entry.detail, entry.groups) == ("local", source, ())

    def test_revoking_the_last_group_asks_first(self, page: Path) -> None:
        at = _documents()
        source = at.selectbox(key="doc-open").options[0]
        at.selectbox(key="doc-open").set_value(source).run()
        at.text_input(key="doc-groups").set_value("hr").run()
        at.button(key="doc-grant").click().run()
        at.button(key="doc-revoke").click().run()  # hr is its last group: nothing yet, a question
        warned = " ".join(html.unescape(w.value) for w in at.warning)
        assert "everyone will be able to read it" in warned, warned
        assert [e.action for e in _audit(page)][:1] == ["grant"]  # no revoke recorded
        at.button(key="doc-revoke-cancel").click().run()
        assert not at.warning
        at.button(key="doc-revoke").click().run()
        at.button(key="doc-revoke-public").click().run()
        said = " ".join(html.unescape(i.value) for i in at.info)
        assert f"{source}: for everyone" in said, said
        [revoke, grant] = [e for e in _audit(page) if e.action in ("grant", "revoke")]
        assert (revoke.action, revoke.groups, grant.groups) == ("revoke", (), ("hr",))

    def test_the_sidebar_library_asks_before_the_last_revoke(self, page: Path) -> None:
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
        source = at.selectbox(key="library-source").value
        at.text_input(key="library-groups").set_value("hr").run()
        at.button(key="library-grant").click().run()
        at.button(key="library-revoke").click().run()
        warned = " ".join(html.unescape(w.value) for w in at.warning)
        assert "everyone will be able to read it" in warned, warned
        assert [e.action for e in _audit(page)][:1] == ["grant"]
        at.button(key="library-revoke-public").click().run()
        assert f"{source}: everyone" in " ".join(html.unescape(c.value) for c in at.caption)
        assert [e.action for e in _audit(page)][:2] == ["revoke", "grant"]


class TestUpload:
    def test_files_are_ingested_with_a_result_per_file_and_become_answerable(self, page) -> None:
        at = _documents()
        at.session_state["pending_uploads"] = [
            ("../../escape/quokka notes.md", b"# Quokkas\n\nThe quokka Percival lives on Rottnest"),
            ("malware.exe", b"MZ\x90\x00"),
            ("empty.txt", b""),
        ]
        at.run()
        lines = [html.unescape(m.value) for m in at.markdown if " — " in m.value]
        assert any("quokka notes.md — ingested: 1 chunk" in x for x in lines), lines
        assert any("malware.exe — skipped: not a supported file type" in x for x in lines), lines
        assert any(re.search(r"empty\.txt — (failed|skipped): \w", x) for x in lines), lines
        saved = page / "uploads" / "quokka notes.md"
        assert saved.exists() and not (page.parent / "escape").exists()  # no path traversal
        assert {m.label: m.value for m in at.sidebar.metric}["Documents"] == "9"
        assert len(at.dataframe[0].value) == 9
        uploads = [e for e in _audit(page) if e.action == "upload"]
        assert [(e.user, Path(e.detail).name) for e in uploads] == [("local", "quokka notes.md")]

        at.switch_page("chat_page.py").run()
        at.chat_input[0].set_value("Where does the quokka Percival live?").run()
        answer = _text(at.chat_message[1].markdown[0].value)
        assert "Rottnest" in answer
