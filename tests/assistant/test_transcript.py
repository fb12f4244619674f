"""Markdown transcripts: citations numbered across the conversation, one source list, inert."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from assistant.conversations import ConversationStore
from assistant.transcript import to_markdown
from tests.assistant.helpers import sample_answer, sample_source


def test_citations_are_numbered_across_the_conversation_with_one_source_list(
    tmp_path: Path,
) -> None:
    first = sample_answer("When was Ada born?", error=None, partial=False)
    second = replace(
        sample_answer("And the balloon?", error=None, partial=False),
        text="It reached 38 km [1], as logged [2].",
        sources=[
            sample_source(3, "Balloon text."),
            sample_source(1, "Ada was born on 10 December 1815."),
        ],
    )
    second.sources[0] = replace(second.sources[0], number=1)  # numbers are per answer
    second.sources[1] = replace(second.sources[1], number=2)
    with ConversationStore(tmp_path / "c.db") as store:
        cid = store.add_turn(None, first, top_k=5, model_label="m").conversation_id
        store.add_turn(cid, second, top_k=5, model_label="m")
        text = to_markdown(store.get(cid), store.turns(cid))
    assert "## 1. When was Ada born?" in text and "## 2. And the balloon?" in text
    assert "10 December 1815 [1]." in text
    # the second answer's [1] is a new source (→ [2]); its [2] is the first answer's [1]
    assert "It reached 38 km [2], as logged [1]." in text
    sources = text.split("## Sources", 1)[1]
    assert "1. **Doc 1** — docs/doc1.md · p. 1 · Early life" in sources
    assert "2. **Doc 3** — docs/doc3.md · p. 3" in sources
    assert "\n3. " not in sources


def test_markup_in_questions_and_titles_is_escaped(tmp_path: Path) -> None:
    nasty = "# <script>alert(1)</script> [x](javascript:alert(1)) \x07"
    with ConversationStore(tmp_path / "c.db") as store:
        turn = store.add_turn(None, sample_answer(nasty), top_k=5, model_label="m")
        text = to_markdown(store.get(turn.conversation_id), store.turns(turn.conversation_id))
    assert "<script>" not in text and "](" not in text and "\x07" not in text
    assert "\\<script\\>" in text and "\\[x\\]\\(javascript:alert\\(1\\)\\)" in text
