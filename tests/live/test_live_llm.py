"""The assistant against a real OpenAI-compatible server (llama.cpp + SmolLM2-135M-Instruct).

The scripted server (`tests/llm_server.py`) proves our parsing of streams we wrote ourselves; these
tests prove that a real server's stream, chat template and stop behaviour work with our prompts. A
135M model answers badly, so they check the protocol and the product's invariants — the stream
arrives piece by piece, only valid citations survive, sources are shown, follow-ups are condensed,
refusal happens, nothing crashes — never the model's wisdom.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml

from assistant.chat import Assistant
from assistant.types import Answer, CitationEvent, DoneEvent, SourcesEvent, TextEvent
from msrag.settings import Settings
from retrieval.encoders import Encoders
from retrieval.ingest.pipeline import ingest
from retrieval.retriever import MultiStageRetriever
from retrieval.stores import open_store
from tests.conftest import DEMO_DOCS, REPO, make_settings
from tests.live.conftest import LiveServer, msrag_command

pytestmark = [pytest.mark.live, pytest.mark.timeout(1800)]

QUESTIONS = (
    "When was Ada Lovelace born?",
    "How many days of paid holiday do Northwind employees get?",
    "How often should the pothos in the office be watered?",
)
OFF_TOPIC = "Who won the 2018 FIFA World Cup final?"
MARKER = re.compile(r"\[(\d+)\]")


@pytest.fixture(scope="module")
def live_settings(live_llm: LiveServer, offline_model_dirs, tmp_path_factory) -> Settings:
    return make_settings(
        offline_model_dirs,
        tmp_path_factory.mktemp("live") / "data",
        openai_base_url=live_llm.url,
        llm_model=live_llm.model,
        llm_timeout=300.0,
    )


@pytest.fixture(scope="module")
def assistant(live_settings: Settings, encoders: Encoders) -> Assistant:
    encoders = encoders.configured(live_settings)
    store = open_store(live_settings, encoders.layout(live_settings))
    report = ingest([DEMO_DOCS], live_settings, store, encoders, progress=False)
    assert report.ok, report.summary()
    retriever = MultiStageRetriever.from_settings(live_settings, encoders=encoders, store=store)
    yield Assistant(live_settings, retriever)
    store.close()


def _check_citations(answer: Answer) -> None:
    """Every marker left in the text names a passage that was sent and is listed as a source;
    markers naming no passage were removed and reported."""
    sent = len(answer.sources) + len(answer.uncited)
    numbers = {int(n) for n in MARKER.findall(answer.text)}
    assert numbers <= set(range(1, sent + 1)), (answer.text, sent)
    assert numbers == {s.number for s in answer.sources}, (answer.text, answer.sources)
    assert all(n not in numbers for n in answer.invalid_citations)


class TestTheTurn:
    def test_the_answer_streams_piece_by_piece_with_valid_citations(
        self, assistant: Assistant
    ) -> None:
        pieces = 0
        for question in QUESTIONS:
            arrivals: list[float] = []
            texts: list[str] = []
            answer = None
            for event in assistant.stream(question):
                if isinstance(event, (TextEvent, CitationEvent)):
                    arrivals.append(time.monotonic())
                if isinstance(event, TextEvent):
                    texts.append(event.text)
                if isinstance(event, SourcesEvent):
                    assert event.sources, "the passages are announced before the text"
                if isinstance(event, DoneEvent):
                    answer = event.answer
            assert answer is not None and answer.error is None, answer and answer.error
            assert not answer.refused and not answer.extractive and answer.model
            # several pieces, over time: a real token stream, not one block at the end
            assert len(texts) >= 2 and arrivals[-1] - arrivals[0] > 0, texts
            pieces += len(texts)
            assert "".join(texts).strip()
            assert answer.timings.first_token_ms > 0 and answer.timings.output_tokens > 0
            assert answer.sources or answer.uncited, "the passages sent are listed"
            _check_citations(answer)
        assert pieces >= 3 * len(QUESTIONS)

    def test_a_follow_up_is_condensed_by_the_model_before_retrieval(
        self, assistant: Assistant
    ) -> None:
        first = assistant.ask("Who was Ada Lovelace?")
        history = [{"role": "user", "content": first.question}, first]  # as `msrag chat` keeps it
        follow = assistant.ask("When was she born?", history=history)
        assert follow.error is None, follow.error
        # the condense request went to the model with the conversation in it
        sent = "\n".join(m["content"] for m in follow.condense_messages)
        assert "Who was Ada Lovelace?" in sent and "When was she born?" in sent
        assert first.text.strip().split("\n")[0][:40] in sent
        assert follow.timings.condense_ms > 0
        # what came back is used as one standalone question (its wording is the model's)
        standalone = follow.standalone_question.strip()
        assert standalone and "\n" not in standalone and len(standalone) < 500
        _check_citations(follow)

    def test_an_off_topic_question_is_refused_without_asking_the_model(
        self, assistant: Assistant
    ) -> None:
        answer = assistant.ask(OFF_TOPIC)
        assert answer.refused and not answer.sources
        assert answer.timings.output_tokens == 0


def _run(project: tuple[Path, dict[str, str]], *args: str, stdin: str | None = None):
    root, env = project
    return subprocess.run(
        [str(msrag_command()), *args],
        cwd=root, env=env, input=stdin, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


class TestCommands:
    def test_ask_streams_then_lists_the_sources(self, live_project) -> None:
        result = _run(live_project, "ask", QUESTIONS[0], "--verbose")
        assert result.returncode == 0, result.stdout + result.stderr
        body = result.stdout.split("Sources")[0].strip()
        assert body, "the answer text was printed"
        # every passage sent is shown: cited under Sources, the rest as 'Also sent, not cited'
        shown = result.stdout + result.stderr
        assert "ada_lovelace.md" in shown
        assert "Traceback" not in shown
        assert re.search(r"first token\s+\d+\s+ms", result.stderr)

    def test_chat_condenses_the_follow_up(self, live_project) -> None:
        result = _run(
            live_project, "chat", "--verbose",
            stdin="Who was Ada Lovelace?\nWhen was she born?\n\n",
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        assert len(re.findall(r"first token\s+\d+\s+ms", result.stderr)) == 2  # two turns answered
        # only the second turn has history, so only it goes through the condense step
        assert len(re.findall(r"condense\s+\d+\s+ms", result.stderr)) == 1

    def test_regress_live_runs_the_example_suite(self, live_project, tmp_path: Path) -> None:
        """The whole example suite against the live model: it runs to the end (exit 0 or 1, never
        2), no layer errors, the refusal cases pass, and for every question without history the
        prompt and the retrieved passages equal the goldens — the model changes only answers."""
        junit = tmp_path / "regress.xml"
        _root, env = live_project
        suite = REPO / "examples" / "regress" / "cases.yaml"
        result = _run(live_project, "regress", str(suite), "--llm", "live", "--junit", str(junit))
        assert result.returncode in (0, 1), result.stdout + result.stderr
        tree = ElementTree.parse(junit).getroot()
        cases = tree.iter("testcase")
        layers: dict[tuple[str, str], str] = {}
        for case in cases:
            status = "pass"
            for kind in ("failure", "error", "skipped"):
                if case.find(kind) is not None:
                    status = kind
            layers[(case.get("classname", "").split(".")[-1], case.get("name", ""))] = status
        ids = {case_id for case_id, _ in layers}
        assert ids == {c["id"] for c in yaml.safe_load(suite.read_text())["cases"]}, ids
        assert "error" not in layers.values(), layers
        for case_id in ("off-topic-capital", "off-topic-football"):
            assert layers[(case_id, "answer")] == "pass", layers
        for (case_id, layer), status in layers.items():
            if layer in ("prompt", "retrieval") and case_id != "ada-follow-up":
                assert status == "pass", (case_id, layer, result.stdout[-3000:])
