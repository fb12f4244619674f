"""A chat turn against a real HTTP OpenAI-compatible server (tests/llm_server.py): streaming,
citations as tokens arrive, refusal, the extractive mode, condensing, every LLM fault, secrets."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from assistant.refusal import DEFAULT_THRESHOLDS
from assistant.types import (
    Answer,
    ChatMessage,
    CitationEvent,
    DoneEvent,
    SourcesEvent,
    StageEvent,
    TextEvent,
)
from retrieval.errors import QueryTooLongError
from tests.assistant.conftest import SECRET, make_passages
from tests.assistant.helpers import make_assistant
from tests.llm_server import (
    Break,
    Cut,
    Fault,
    Hang,
    Malformed,
    Reply,
    ScriptedLLM,
    Stall,
    closed_port,
)


def assert_no_secret(answer: Answer) -> None:
    assert SECRET not in repr(answer)
    assert SECRET[-8:] not in repr(answer)  # not even the tail a server may echo


class TestStreaming:
    def test_events_arrive_in_order_with_citations_resolved(self, llm_server, tmp_path):
        llm_server.script(
            Reply(
                "",
                chunks=(
                    "Ada was born in 1815 [",
                    "1",
                    "] in London [1][",
                    "9]. She met ",
                    "Babbage in 1833 [2",
                    "].",
                ),
            )
        )
        assistant, _ = make_assistant(llm_server.url, tmp_path)
        events = list(assistant.stream("When was Ada Lovelace born?"))
        kinds = [type(e).__name__ for e in events]
        assert kinds[0] == "StageEvent" and kinds[-1] == "DoneEvent"
        assert [e.stage for e in events if isinstance(e, StageEvent)] == ["retrieve", "generate"]
        sources = next(e for e in events if isinstance(e, SourcesEvent)).sources
        assert [s.number for s in sources] == [1, 2, 3, 4, 5]
        assert kinds.index("SourcesEvent") < kinds.index("TextEvent")
        cites = [e.numbers for e in events if isinstance(e, CitationEvent)]
        assert cites == [(1,), (1,), (2,)]
        replay = "".join(
            e.text if isinstance(e, TextEvent) else e.marker
            for e in events
            if isinstance(e, (TextEvent, CitationEvent))
        )
        answer = events[-1].answer
        assert (
            replay
            == answer.text
            == ("Ada was born in 1815 [1] in London [1]. She met Babbage in 1833 [2].")
        )
        assert answer.invalid_citations == [9]
        assert [s.number for s in answer.sources] == [1, 2]
        assert answer.sources[0].sentences == ("Ada was born in 1815 in London.",)
        assert answer.sources[0].heading == "Early life" and answer.sources[0].char_start == 0
        assert [s.number for s in answer.uncited] == [3, 4, 5]
        assert answer.ok and not answer.partial and not answer.extractive

    def test_request_is_a_real_streaming_chat_completion(self, llm_server, tmp_path):
        assistant, _ = make_assistant(llm_server.url, tmp_path)
        answer = assistant.ask("When was Ada Lovelace born?")
        (body,) = llm_server.chat_requests
        assert body["stream"] is True and body["model"] == "test-model"
        assert body["messages"] == answer.messages
        assert body["max_tokens"] == 768 and body["temperature"] == 0.0
        assert llm_server.requests[-1].headers["authorization"] == f"Bearer {SECRET}"
        assert '<passage n="1"' in answer.messages[1]["content"]

    def test_timings_cover_every_stage(self, llm_server, tmp_path):
        llm_server.script(Reply("One two three four five six seven eight [1]."))
        answer = make_assistant(llm_server.url, tmp_path)[0].ask("When was Ada Lovelace born?")
        t = answer.timings
        assert t.condense_ms == 0  # no history
        assert t.retrieve_ms > 0 and t.encode_ms == 1.0 and t.search_ms == 2.0
        assert 0 < t.first_token_ms <= t.total_ms
        assert t.generate_ms > 0 and t.output_tokens >= 9 and t.tokens_per_s > 0

    def test_finish_reason_length_marks_the_answer_partial(self, llm_server, tmp_path):
        llm_server.script(Reply("Ada was born", finish_reason="length"))
        answer = make_assistant(llm_server.url, tmp_path)[0].ask("When was Ada Lovelace born?")
        assert answer.partial and answer.text == "Ada was born"
        assert "MSRAG_LLM_ANSWER_TOKENS" in answer.error


class TestRefusal:
    def test_weak_retrieval_refuses_without_calling_the_model(self, llm_server, tmp_path):
        weak = make_passages(score=3.0)  # 3.0 / 10 query tokens = 0.3 < 0.45
        assistant, _ = make_assistant(llm_server.url, tmp_path, passages=weak)
        answer = assistant.ask("What is the capital of Peru?")
        assert answer.refused and answer.ok
        assert answer.text.startswith("I found nothing relevant")
        assert answer.top_score == pytest.approx(0.3)
        assert answer.threshold == DEFAULT_THRESHOLDS["hybrid+colbert"] > 0.3
        assert answer.sources == [] and len(answer.omitted) == 5
        assert llm_server.chat_requests == []

    def test_the_same_scores_pass_for_a_shorter_question(self, llm_server, tmp_path):
        # MaxSim grows with query length: the threshold is per query token
        assistant, _ = make_assistant(
            llm_server.url, tmp_path, passages=make_passages(3.0), query_tokens=4
        )
        assert not assistant.ask("Ada born?").refused

    def test_nothing_retrieved_refuses(self, llm_server, tmp_path):
        answer = make_assistant(llm_server.url, tmp_path, passages=[])[0].ask("Anything?")
        assert answer.refused and answer.top_score is None and llm_server.chat_requests == []

    def test_setting_overrides_the_calibrated_threshold(self, llm_server, tmp_path):
        assistant, _ = make_assistant(llm_server.url, tmp_path, min_rerank_score=0.9)
        answer = assistant.ask("When was Ada Lovelace born?")  # 8.0 / 10 = 0.8 < 0.9
        assert answer.refused and answer.threshold == 0.9

    def test_modes_without_an_absolute_score_only_refuse_when_empty(self, llm_server, tmp_path):
        assistant, retriever = make_assistant(
            llm_server.url, tmp_path, passages=make_passages(0.03)
        )
        assert not assistant.ask("When was Ada born?", mode="hybrid").refused
        assert retriever.maxsim_asked == [False]

    @pytest.mark.parametrize("mode", ["hybrid+colbert+rrf", "hybrid+colbert+dbsf"])
    def test_fused_modes_refuse_on_the_passages_stored_maxsim(self, llm_server, tmp_path, mode):
        # The fused score (here 0.9 and below) has no scale; the passages' MaxSim per query
        # token, read back from their stored vectors, does: the best of them decides.
        weak = make_passages(0.9)
        for passage, value in zip(weak, (0.30, 0.41, 0.20, 0.10, 0.05), strict=True):
            passage.maxsim_per_token = value
        assistant, retriever = make_assistant(llm_server.url, tmp_path, passages=weak)
        answer = assistant.ask("What is the capital of Peru?", mode=mode)
        assert answer.refused and answer.top_score == pytest.approx(0.41)
        assert answer.threshold == DEFAULT_THRESHOLDS[mode] == DEFAULT_THRESHOLDS["hybrid+colbert"]
        assert retriever.maxsim_asked == [True] and llm_server.chat_requests == []

        weak[3].maxsim_per_token = 0.62  # one relevant passage among those sent
        answer = make_assistant(llm_server.url, tmp_path, passages=weak)[0].ask(
            "Capital?", mode=mode
        )
        assert not answer.refused and answer.top_score == pytest.approx(0.62)


class TestExtractive:
    def test_no_llm_configured_gives_labelled_cited_sentences(self, tmp_path):
        assistant, _ = make_assistant(None, tmp_path)
        assert assistant.llm is None
        events = list(assistant.stream("When was Ada Lovelace born?"))
        answer = events[-1].answer
        assert answer.extractive and answer.ok and answer.model is None
        assert answer.text.startswith("Extractive answer (no language model configured)")
        assert "- Ada was born on 10 December 1815 in London. [1]" in answer.text
        assert answer.sources[0].number == 1
        assert "Ada was born on 10 December 1815 in London." in answer.sources[0].sentences
        assert any(isinstance(e, CitationEvent) for e in events)
        assert answer.timings.first_token_ms > 0

    def test_extractive_sentences_carry_no_document_footnotes(self, tmp_path):
        passages = make_passages()
        passages[0].text = "Ada was born in 1815 [4] in London. Nothing else."
        answer = make_assistant(None, tmp_path, passages=passages)[0].ask("When was Ada born?")
        assert "- Ada was born in 1815 in London. [1]" in answer.text
        assert answer.invalid_citations == []

    def test_refusal_applies_without_an_llm_too(self, tmp_path):
        answer = make_assistant(None, tmp_path, passages=make_passages(2.0))[0].ask(
            "Capital of Peru?"
        )
        assert answer.refused and answer.extractive


class TestCondense:
    HISTORY = [
        ChatMessage("user", "Who was Ada Lovelace?"),
        {"role": "assistant", "content": "A mathematician [1] who worked with Babbage [2]."},
    ]

    def test_follow_up_is_condensed_before_retrieval(self, llm_server, tmp_path):
        llm_server.script(Reply("When was Ada Lovelace born?"), Reply("In 1815 [1]."))
        assistant, retriever = make_assistant(llm_server.url, tmp_path)
        events = list(assistant.stream("When was she born?", self.HISTORY))
        answer = events[-1].answer
        condense, final = llm_server.chat_requests
        assert condense.get("stream") in (None, False)
        assert "Follow-up question: When was she born?" in condense["messages"][0]["content"]
        assert (
            "Assistant: A mathematician who worked with Babbage."
            in condense["messages"][0]["content"]
        )
        assert retriever.queries == ["When was Ada Lovelace born?"]
        assert answer.standalone_question == "When was Ada Lovelace born?"
        assert answer.question == "When was she born?"
        assert "Question: When was Ada Lovelace born?" in final["messages"][1]["content"]
        assert answer.condense_messages == condense["messages"]
        assert [e.stage for e in events if isinstance(e, StageEvent)][0] == "condense"
        assert answer.timings.condense_ms > 0

    def test_no_history_means_no_condense_call(self, llm_server, tmp_path):
        make_assistant(llm_server.url, tmp_path)[0].ask("When was Ada Lovelace born?")
        assert len(llm_server.chat_requests) == 1

    def test_without_an_llm_the_follow_up_is_used_as_asked(self, tmp_path):
        assistant, retriever = make_assistant(None, tmp_path)
        assistant.ask("When was she born?", self.HISTORY)
        assert retriever.queries == ["When was she born?"]

    def test_an_unusable_condense_reply_falls_back_to_the_question(self, llm_server, tmp_path):
        llm_server.script(Reply(""), Reply("ok [1]."))
        assistant, retriever = make_assistant(llm_server.url, tmp_path)
        assistant.ask("When was she born?", self.HISTORY)
        assert retriever.queries == ["When was she born?"]

    def test_previous_answers_are_accepted_as_history(self, llm_server, tmp_path):
        llm_server.script(Reply("Ada Lovelace birth?"), Reply("1815 [1]."))
        assistant, retriever = make_assistant(llm_server.url, tmp_path)
        first = Answer(question="q", standalone_question="q", text="Ada was a mathematician [1].")
        assistant.ask("Born when?", [{"role": "user", "content": "Who?"}, first])
        assert (
            "Assistant: Ada was a mathematician."
            in llm_server.chat_requests[0]["messages"][0]["content"]
        )


class TestFaults:
    """Each fault: one sentence naming the problem and what to set; partial text kept; no key."""

    def ask(self, url, tmp_path, **kw) -> Answer:
        answer = make_assistant(url, tmp_path, **kw)[0].ask("When was Ada Lovelace born?")
        assert not answer.ok and answer.error.count(". ") == 0 and answer.error.endswith(".")
        assert_no_secret(answer)
        return answer

    def test_connection_refused(self, tmp_path):
        answer = self.ask(f"http://127.0.0.1:{closed_port()}/v1", tmp_path)
        assert answer.error_kind == "connection"
        assert "Cannot connect" in answer.error and "OPENAI_BASE_URL" in answer.error
        assert answer.sources == [] and len(answer.uncited) == 5  # still shows what was found

    def test_timeout(self, llm_server, tmp_path):
        llm_server.script(Hang(5))
        answer = self.ask(llm_server.url, tmp_path, llm_timeout=0.5)
        assert answer.error_kind == "timeout" and "MSRAG_LLM_TIMEOUT" in answer.error
        assert "0.5 s" in answer.error

    def test_wrong_key_401_never_echoes_the_key(self, llm_server, tmp_path):
        llm_server.api_key = "sk-the-right-one-000000"
        answer = self.ask(llm_server.url, tmp_path)
        assert answer.error_kind == "auth" and "OPENAI_API_KEY" in answer.error
        assert "Incorrect API key" not in answer.error  # the server's message echoes the key

    def test_unknown_model_404_lists_what_the_server_serves(self, llm_server, tmp_path):
        answer = self.ask(llm_server.url, tmp_path, llm_model="gpt-9")
        assert answer.error_kind == "model"
        assert "'gpt-9'" in answer.error and "MSRAG_LLM_MODEL" in answer.error
        assert "test-model" in answer.error

    def test_429_then_success_is_retried(self, llm_server, tmp_path):
        llm_server.script(Fault(429, retry_after=0), Reply("In 1815 [1]."))
        answer = make_assistant(llm_server.url, tmp_path)[0].ask("When was Ada Lovelace born?")
        assert answer.ok and answer.text == "In 1815 [1]."
        assert len(llm_server.chat_requests) == 2

    def test_500_then_success_is_retried(self, llm_server, tmp_path):
        llm_server.script(Fault(500), Fault(503), Reply("In 1815 [1]."))
        answer = make_assistant(llm_server.url, tmp_path)[0].ask("When was Ada Lovelace born?")
        assert answer.ok and len(llm_server.chat_requests) == 3

    def test_always_500_gives_up_after_the_configured_retries(self, llm_server, tmp_path):
        llm_server.default = lambda body: Fault(500)
        answer = self.ask(llm_server.url, tmp_path, llm_max_retries=3)
        assert answer.error_kind == "server" and "HTTP 500 after 3 retries" in answer.error
        assert len(llm_server.chat_requests) == 4

    def test_429_persisting(self, llm_server, tmp_path):
        llm_server.default = lambda body: Fault(429)
        answer = self.ask(llm_server.url, tmp_path, llm_max_retries=1)
        assert answer.error_kind == "rate_limit" and "429" in answer.error
        assert len(llm_server.chat_requests) == 2

    @pytest.mark.parametrize("status", [400, 401, 404])
    def test_client_errors_are_not_retried(self, llm_server, tmp_path, status):
        llm_server.script(Fault(status, message="nope"))
        self.ask(llm_server.url, tmp_path)
        assert len(llm_server.chat_requests) == 1

    @pytest.mark.parametrize(
        "step",
        [
            Break("Ada was born in 1815 [1] in", after=4),
            Cut("Ada was born in 1815 [1] in", after=4),
        ],
    )
    def test_stream_broken_mid_answer_keeps_the_partial_text(self, llm_server, tmp_path, step):
        llm_server.script(step)
        answer = self.ask(llm_server.url, tmp_path)
        assert answer.error_kind == "stream" and answer.partial
        assert answer.text == "Ada was born in"
        assert "broke in the middle of the answer" in answer.error

    def test_server_hanging_mid_answer_is_cut_at_the_timeout_and_the_next_question_works(
        self, llm_server, tmp_path
    ):
        # The server would stay silent for 60 s with the connection open.
        llm_server.script(Stall("Ada was born in 1815 [1] in", after=4, seconds=60))
        bot = make_assistant(llm_server.url, tmp_path, llm_timeout=0.5)[0]
        started = time.monotonic()
        answer = bot.ask("When was Ada Lovelace born?")
        assert time.monotonic() - started < 30  # bounded by the timeout, not by the server
        assert answer.error_kind == "stream" and answer.partial
        assert answer.text == "Ada was born in"
        assert "sent nothing for 0.5 s in the middle of the answer" in answer.error
        assert "MSRAG_LLM_TIMEOUT" in answer.error
        assert_no_secret(answer)
        again = bot.ask("When was Ada Lovelace born?")
        assert again.ok and again.text == "Scripted answer [1]."

    def test_malformed_stream_event_keeps_the_partial_text(self, llm_server, tmp_path):
        llm_server.script(Malformed("Ada was born in 1815 [1].", after=3))
        bot = make_assistant(llm_server.url, tmp_path)[0]
        answer = bot.ask("When was Ada Lovelace born?")
        assert answer.error_kind == "stream" and answer.partial
        assert answer.text == "Ada was born"
        assert "sent a malformed stream event: the partial answer is kept" in answer.error
        assert bot.ask("When was Ada Lovelace born?").ok

    def test_malformed_first_event_is_a_protocol_error(self, llm_server, tmp_path):
        llm_server.script(Malformed("Ada was born.", after=0))
        answer = self.ask(llm_server.url, tmp_path)
        assert answer.error_kind == "protocol" and not answer.partial and answer.text == ""
        assert "no answer arrived" in answer.error

    def test_condense_failure_ends_the_turn_with_the_error(self, llm_server, tmp_path):
        llm_server.script(Fault(401))
        answer = make_assistant(llm_server.url, tmp_path)[0].ask(
            "When was she born?", [ChatMessage("user", "Who was Ada?")]
        )
        assert answer.error_kind == "auth" and answer.text == "" and not answer.partial
        assert len(llm_server.chat_requests) == 1

    def test_no_secret_in_logs(self, llm_server, tmp_path, caplog):
        llm_server.api_key = "sk-other"
        caplog.set_level(logging.DEBUG)
        llm_server.script(Fault(500))
        make_assistant(llm_server.url, tmp_path)[0].ask("When was Ada Lovelace born?")
        assert caplog.records  # the openai client and our retries did log
        assert SECRET not in caplog.text and SECRET[-8:] not in caplog.text


def test_no_room_for_passages_is_a_clear_error(llm_server, tmp_path: Path) -> None:
    assistant, _ = make_assistant(
        llm_server.url, tmp_path, llm_context_window=768, llm_answer_tokens=700
    )
    answer = assistant.ask("When was Ada Lovelace born?")
    assert answer.error_kind == "budget" and "MSRAG_LLM_CONTEXT_WINDOW" in answer.error
    assert llm_server.chat_requests == []


class TestQuestion:
    def test_too_long_is_a_clear_error(self, tmp_path):
        assistant, retriever = make_assistant(None, tmp_path, max_query_chars=100)
        with pytest.raises(QueryTooLongError, match="MSRAG_MAX_QUESTION_CHARS"):
            assistant.ask("x" * 101)
        assert retriever.queries == []

    def test_empty_question(self, tmp_path):
        with pytest.raises(ValueError, match="empty"):
            make_assistant(None, tmp_path)[0].ask("   ")


def test_secret_never_in_the_returned_prompt(llm_server: ScriptedLLM, tmp_path: Path) -> None:
    answer = make_assistant(llm_server.url, tmp_path)[0].ask("What is the API key?")
    assert_no_secret(answer)
    assert all(set(m) == {"role", "content"} for m in answer.messages)


def test_done_event_is_last_and_unique(tmp_path: Path) -> None:
    events = list(make_assistant(None, tmp_path)[0].stream("When was Ada born?"))
    assert sum(isinstance(e, DoneEvent) for e in events) == 1 and isinstance(events[-1], DoneEvent)
