"""The page logic through Streamlit's AppTest, over a real store of the demo documents.

No LLM is configured unless a test says so, so answers are extractive and deterministic.
"""

from __future__ import annotations

import html
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.llm_server import Break, Reply, ScriptedLLM
from tests.ui.conftest import APP, REPO

TIMEOUT = 120  # the first run of a session loads the models


def _run(question: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    if question is not None:
        at.chat_input[0].set_value(question).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _html(at: AppTest) -> str:
    """Every markdown element's source (what the browser would receive), joined."""
    return "\n".join(m.value for m in at.markdown)


def _text(fragment: str) -> str:
    """What a reader sees of an HTML fragment from ui.markup (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


class TestChatTurn:
    def test_extractive_answer_cites_the_biography_with_links_to_its_source(self, page) -> None:
        at = _run("When was Ada Lovelace born?")
        assert not at.error
        assert [m.name for m in at.chat_message] == ["user", "assistant"]
        reply = at.chat_message[1]
        answer = reply.markdown[0].value
        assert "10 December 1815" in _text(answer)
        links = re.findall(r'<a href="#(msrag-t1-s(\d+))" title="([^"]*)"', answer)
        assert links, answer
        anchor, number, tooltip = links[0]
        assert "ada_lovelace.md" in html.unescape(tooltip)
        # the link target exists: the cited source's heading carries that id
        heads = [m.value for m in reply.markdown if f'id="{anchor}"' in m.value]
        assert len(heads) == 1 and f"&#91;{number}&#93; Ada Lovelace" in heads[0]
        assert "ada&#95;lovelace.md" in heads[0] and "score " in heads[0] and "· rank " in heads[0]
        assert any("Extractive answer" in c.value for c in reply.caption)

    def test_cited_sentence_is_highlighted_in_the_passage(self, page) -> None:
        at = _run("When was Ada Lovelace born?")
        passages = [m.value for m in at.chat_message[1].markdown if "msrag-passage" in m.value]
        used = re.compile(r'<mark class="msrag-used">(.*?)</mark>')
        marked = [_text(x) for p in passages for x in used.findall(p)]
        assert any("born on 10 December 1815" in m for m in marked), marked

    def test_uncited_sources_are_listed_in_a_collapsed_expander(self, page) -> None:
        at = _run("When was Ada Lovelace born?")
        expanders = at.chat_message[1].expander
        assert len(expanders) == 1 and expanders[0].label.startswith("Retrieved but not cited")
        assert not expanders[0].proto.expanded
        heads = [m.value for m in expanders[0].markdown if "msrag-source-head" in m.value]
        assert heads and all(' id="' not in h for h in heads)  # only cited sources are anchors

    def test_history_is_redrawn_and_the_follow_up_gets_its_own_turn(self, page) -> None:
        at = _run("When was Ada Lovelace born?")
        at.chat_input[0].set_value("How high did the Zephyr-9 balloon reach?").run()
        assert [m.name for m in at.chat_message] == ["user", "assistant"] * 2
        assert "1815" in _text(at.chat_message[1].markdown[0].value)
        second = at.chat_message[3].markdown[0].value
        assert "38.2 kilometres" in _text(second) and 'href="#msrag-t2-s' in second

    def test_document_markup_is_displayed_as_text_never_as_html(self, page) -> None:
        at = _run("How high did the Zephyr-9 balloon reach?")
        source = _html(at)
        passage = next(m.value for m in at.markdown if "Literal payload" in m.value)
        seen = _text(passage)
        assert "<script>alert(1)</script>" in seen
        assert "<img src=x onerror=alert(1)>" in seen
        assert "[click](javascript:alert(1))" in seen
        # …and none of it is markup or a link the browser or markdown would act on
        lowered = source.lower()
        assert "<script" not in lowered and "<img" not in lowered
        assert "javascript:" not in lowered and "](" not in source

    def test_why_this_passage_draws_the_alignment(self, page) -> None:
        at = _run("When was Ada Lovelace born?")
        # the cited source that states the birth date (its number depends on the ranking)
        answer = at.session_state["messages"][-1]["answer"]
        birth = next(s.number for s in answer.sources if "was born on" in s.text)
        toggle = next(t for t in at.toggle if t.key == f"why-1-{birth}-c")
        toggle.set_value(True).run()
        heat = next(m.value for m in at.markdown if "msrag-why" in m.value)
        spans = re.findall(r'rgba\(214, 90, 0, ([0-9.]+)\).*?title="([^"]*)">(.*?)</span>', heat)
        assert spans
        by_token = {html.unescape(t).split(" · ")[0]: (float(a), _text(w)) for a, t, w in spans}
        assert by_token["born"][1] == "born"
        strongest = max(spans, key=lambda s: float(s[0]))
        assert float(strongest[0]) == pytest.approx(0.9)  # the strongest match is the darkest
        assert at.dataframe and "query token" in at.dataframe[0].value.columns


class TestSidebar:
    def test_store_llm_controls_and_timings(self, page) -> None:
        at = _run()
        metrics = {m.label: m.value for m in at.sidebar.metric}
        assert metrics == {"Documents": "8", "Chunks": "14"}
        info = "\n".join(m.value for m in at.sidebar.markdown)
        assert "no LLM — extractive answers" in info and "embedded store at" in html.unescape(info)
        assert "local:minilm-l6-v2-int8" in info
        assert at.selectbox(key="mode").value == "hybrid+colbert+dbsf"
        assert "No question asked yet." in [c.value for c in at.sidebar.caption]

        at.number_input(key="top_k").set_value(2).run()
        at.selectbox(key="mode").set_value("bm25+colbert").run()
        at.chat_input[0].set_value("When was Ada Lovelace born?").run()
        reply = at.chat_message[1]
        shown = [*reply.markdown, *(m for e in reply.expander for m in e.markdown)]
        # distinct: an expander's markdown is also among the message's own
        heads = {m.value for m in shown if "msrag-source-head" in m.value}
        assert len(heads) == 2  # top-k reached the retriever
        timings = "\n".join(m.value for m in at.sidebar.markdown)
        retrieve = re.search(r"retrieve: \*\*([\d,.]+) ms", timings)
        assert retrieve and float(retrieve.group(1).replace(",", "")) > 0

    def test_new_chat_clears_the_conversation(self, page) -> None:
        at = _run("When was Ada Lovelace born?")
        next(b for b in at.sidebar.button if b.label == "New chat").click().run()
        assert not at.chat_message and at.session_state["messages"] == []


@pytest.fixture
def locked(page: Path) -> Iterator[None]:
    """Another process holds the page's embedded store."""
    code = (
        "import sys; from pathlib import Path\n"
        "from retrieval.stores.edge import EdgeStore, _read_layout, LAYOUT_FILE\n"
        "p = Path(sys.argv[1]) / 'msrag'\n"
        "s = EdgeStore(p, _read_layout(p / LAYOUT_FILE))\n"
        "print('ready', flush=True); sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(page)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield
    finally:
        holder.kill()
        holder.wait()


class TestErrors:
    def test_locked_store_is_a_sentence_and_the_chat_answers_with_it(self, page, locked) -> None:
        at = _run()
        assert len(at.error) == 1
        message = at.error[0].value
        assert "another process" in html.unescape(message).lower() or "lock" in message.lower()
        assert "Traceback" not in message
        at.chat_input[0].set_value("When was Ada Lovelace born?").run()
        assert not at.exception
        reply = at.chat_message[1]
        assert reply.error and "Traceback" not in reply.error[0].value

    def test_unreachable_qdrant_server(self, page, monkeypatch) -> None:
        port = _closed_port()
        monkeypatch.setenv("QDRANT_URL", f"http://127.0.0.1:{port}")
        at = _run()
        assert len(at.error) == 1
        message = html.unescape(at.error[0].value)
        assert f"127.0.0.1:{port}" in message and "Traceback" not in message
        assert at.chat_input  # still there to try again

    def test_llm_fault_keeps_the_sources_and_says_what_to_do(self, page, monkeypatch) -> None:
        port = _closed_port()
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
        at = _run("When was Ada Lovelace born?")
        info = "\n".join(m.value for m in at.sidebar.markdown)
        assert "no LLM" not in info and f"127.0.0.1:{port}" in html.unescape(info)
        reply = at.chat_message[1]
        assert reply.warning, [m.value for m in reply.markdown]
        assert f"127.0.0.1:{port}" in html.unescape(reply.warning[0].value)
        at.chat_input[0].set_value("And the Zephyr-9 balloon?").run()  # still usable
        assert len(at.chat_message) == 4 and not at.exception


class TestWithLLM:
    """A scripted OpenAI-compatible server: the streamed, LLM-written path."""

    @pytest.fixture
    def llm(self, page, monkeypatch) -> Iterator[ScriptedLLM]:
        with ScriptedLLM(models=("test-model",)) as server:
            monkeypatch.setenv("OPENAI_BASE_URL", server.url)
            monkeypatch.setenv("MSRAG_LLM_MODEL", "test-model")
            monkeypatch.setenv("MSRAG_LLM_MAX_RETRIES", "0")
            yield server

    def test_streamed_answer_with_links_and_the_model_in_the_sidebar(self, llm) -> None:
        llm.script(
            Reply(
                "Ada Lovelace was born on 10 December 1815 [1]. "
                "She was <b>remarkable</b> [9]. See [x](javascript:alert(1)) [2]."
            )
        )
        at = _run("When was Ada Lovelace born?")
        info = html.unescape("\n".join(m.value for m in at.sidebar.markdown))
        assert "test-model at http://127.0.0.1:" in info
        reply = at.chat_message[1]
        answer = reply.markdown[0].value
        assert re.findall(r'href="#msrag-t1-s(\d+)"', answer) == ["1", "2"]
        assert "<b>" not in answer and "javascript:" not in answer and "](" not in answer
        assert "<b>remarkable</b>" in _text(answer)
        assert not any("Extractive" in c.value for c in reply.caption)
        assert any("Removed citations" in c.value and "9" in c.value for c in reply.caption)
        heads = [m.value for m in reply.markdown if "msrag-source-head" in m.value]
        cited = [h for h in heads if " id=" in h]
        assert [re.search(r"&#91;(\d+)&#93;", h).group(1) for h in cited] == ["1", "2"]
        assert reply.expander[0].label == "Retrieved but not cited (3)"

    def test_an_answer_citing_nothing_is_marked_and_its_passages_shown_open(self, llm) -> None:
        llm.script(Reply("Ada Lovelace was born in 1815."))  # no marker at all
        at = _run("When was Ada Lovelace born?")
        reply = at.chat_message[1]
        assert [w.value for w in reply.warning] == [
            "This answer cites no source — check it against the passages below."
        ]
        assert reply.expander[0].label.startswith("Retrieved but not cited")
        assert reply.expander[0].proto.expanded

    def test_a_stream_broken_mid_answer_keeps_the_text_and_says_so(self, llm) -> None:
        llm.script(Break("Ada Lovelace was born on 10 December 1815 [1] in London.", after=4))
        at = _run("When was Ada Lovelace born?")
        reply = at.chat_message[1]
        assert "Ada Lovelace was" in _text(reply.markdown[0].value)
        assert reply.warning and reply.warning[0].value.startswith("The answer was cut short")
        llm.script(Reply("Where was Ada Lovelace born?"), Reply("Ada was born in London [1]."))
        at.chat_input[0].set_value("Where was she born?").run()  # condense + answer still work
        condense = llm.chat_requests[-2]["messages"][0]["content"]
        assert "Ada Lovelace was" in condense  # the partial answer is part of the history
        assert "born in London" in _text(at.chat_message[3].markdown[0].value)
        assert not at.chat_message[3].warning
