"""`msrag chat` with saved conversations: save, --list, --export, --resume (real models and DB)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from typer.testing import CliRunner

from assistant.conversations import ConversationStore
from msrag.cli import app
from tests.conftest import DEMO_DOCS

runner = CliRunner()


def test_chat_is_saved_listed_exported_and_resumed(workdir: Path) -> None:
    shutil.copytree(DEMO_DOCS, workdir / "docs")
    assert runner.invoke(app, ["ingest", "docs"]).exit_code == 0
    result = runner.invoke(app, ["chat"], input="When was Ada Lovelace born?\n\n")
    assert result.exit_code == 0, result.output
    db = workdir / ".msrag" / "conversations.db"
    with ConversationStore(db) as store:
        [conversation] = store.conversations()
        assert conversation.title == "When was Ada Lovelace born?" and conversation.turns == 1

    listed = runner.invoke(app, ["chat", "--list"])
    assert listed.exit_code == 0 and "When was Ada Lovelace born?" in listed.output
    assert str(conversation.id) in listed.output

    exported = runner.invoke(app, ["chat", "--export", str(conversation.id)])
    assert exported.exit_code == 0, exported.output
    assert exported.output.startswith("# When was Ada Lovelace born?")
    assert re.search(r"1815.*\[1\]", exported.output) and "## Sources" in exported.output
    assert "1. **Ada Lovelace** — docs/ada\\_lovelace.md" in exported.output

    resumed = runner.invoke(
        app, ["chat", "--resume"], input="How high did the Zephyr-9 balloon reach?\n\n"
    )
    assert resumed.exit_code == 0, resumed.output
    assert "Continuing conversation" in resumed.output
    with ConversationStore(db) as store:
        assert [t.question for t in store.turns(conversation.id)] == [
            "When was Ada Lovelace born?",
            "How high did the Zephyr-9 balloon reach?",
        ]


def test_unknown_ids_are_one_sentence_and_exit_2(workdir: Path) -> None:
    for args in (["chat", "--export", "42"], ["chat", "--resume", "42"]):
        result = runner.invoke(app, args, input="\n")
        assert result.exit_code == 2, result.output
        assert "no conversation 42" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["chat", "--resume"], input="\n")
    assert result.exit_code == 2 and "no saved conversation to resume" in result.output


def test_a_damaged_history_does_not_stop_the_chat(workdir: Path) -> None:
    shutil.copytree(DEMO_DOCS, workdir / "docs")
    assert runner.invoke(app, ["ingest", "docs"]).exit_code == 0
    db = workdir / ".msrag" / "conversations.db"
    db.write_bytes(b"garbage" * 100)
    result = runner.invoke(app, ["chat"], input="When was Ada Lovelace born?\n\n")
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # rich wraps long lines
    assert "not a readable SQLite database" in said and "1815" in said
    assert db.read_bytes() == b"garbage" * 100
