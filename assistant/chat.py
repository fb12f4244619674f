"""One chat turn: condense → retrieve → pack → render → generate (or extract) → cited `Answer`.

Built on our own small pieces rather than LlamaIndex's `CondensePlusContextChatEngine`: the
engine streams plain text and leaves citations to the caller, while we need to validate markers
against the exact passages sent *as tokens arrive*, keep the partial answer when the stream
breaks, and report the prompt and per-stage timings. The retriever is still a LlamaIndex
`BaseRetriever`, so the engine works with it too for users who prefer it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from assistant import citations, refusal
from assistant.context import SAFETY_MARGIN_TOKENS, ContextPacker, PackedContext, TokenCounter
from assistant.errors import InvalidQuestionError, LLMError
from assistant.extractive import ExtractiveAnswerer
from assistant.llm import ChatLLM, LLMClient
from assistant.prompts import PromptLibrary
from assistant.settings import AssistantSettings
from assistant.types import (
    Answer,
    ChatMessage,
    DoneEvent,
    Event,
    Source,
    SourcesEvent,
    StageEvent,
    TextEvent,
    Timings,
)
from retrieval.retriever import check_query
from retrieval.types import Filter

if TYPE_CHECKING:
    from retrieval.retriever import Retrieval

log = logging.getLogger(__name__)

# Condensing sees the last few messages only: older turns rarely hold the referent of "he".
HISTORY_MESSAGES = 6
HISTORY_MESSAGE_CHARS = 1500
CONDENSE_MAX_TOKENS = 200


class Searcher(Protocol):
    """What the assistant needs from a retriever (`retrieval.MultiStageRetriever` has it).

    Optional: `relevance(query, texts) -> list[float]`; with it, extractive answers keep only
    the sentences that answer (see `assistant.extractive`), without it they rank by words.
    """

    def search(
        self,
        query: str,
        *,
        mode: str | None = None,
        top_k: int | None = None,
        filter: Filter | None = None,
        relevance: bool = False,
    ) -> Retrieval: ...


class Assistant:
    """Grounded, cited answers over a retriever, through any OpenAI-compatible LLM (or none).

        from assistant.settings import AssistantSettings
        from retrieval import MultiStageRetriever
        settings = AssistantSettings()
        retriever = MultiStageRetriever.from_settings(settings)
        assistant = Assistant(settings, retriever)
        answer = assistant.ask("Who was Ada Lovelace?")
        answer.text, [s.source for s in answer.sources]
        # -> ('Ada Lovelace was an English mathematician [1].', ['examples/docs/ada_lovelace.md'])
        for event in assistant.stream("When was she born?", history=[...]):
            print(event)

    With no `OPENAI_API_KEY` and no `OPENAI_BASE_URL` the answer is extractive (labelled so).
    """

    def __init__(
        self,
        settings: AssistantSettings,
        retriever: Searcher,
        *,
        llm: ChatLLM | None = None,
        prompts: PromptLibrary | None = None,
        extractive: ExtractiveAnswerer | None = None,
        on_answer: Callable[[str, Answer], None] | None = None,
    ) -> None:
        self.settings = settings
        # Called with the question and its finished answer, whichever way the turn ended: how the
        # audit log (assistant/audited.py) sees every turn without the turn knowing about it.
        self.on_answer = on_answer
        self.retriever = retriever
        self.llm: ChatLLM | None = (
            llm if llm is not None else (LLMClient(settings) if settings.llm_configured else None)
        )
        self.prompts = prompts or PromptLibrary.from_settings(settings)
        self.counter = TokenCounter.for_model(settings.llm_model)
        self.packer = ContextPacker(self.prompts, self.counter)
        self.extractor = extractive or ExtractiveAnswerer()

    # --- public ------------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        history: Sequence[ChatMessage | Mapping[str, Any] | Answer] = (),
        *,
        mode: str | None = None,
        top_k: int | None = None,
        filter: Filter | None = None,
    ) -> Answer:
        """Run one turn to the end and return its `Answer` (LLM faults are in `answer.error`)."""
        answer = None
        for event in self.stream(question, history, mode=mode, top_k=top_k, filter=filter):
            if isinstance(event, DoneEvent):
                answer = event.answer
        assert answer is not None
        return answer

    def stream(
        self,
        question: str,
        history: Sequence[ChatMessage | Mapping[str, Any] | Answer] = (),
        *,
        mode: str | None = None,
        top_k: int | None = None,
        filter: Filter | None = None,
    ) -> Iterator[Event]:
        """Run one turn, yielding events as it goes; the last one is `DoneEvent(answer)`.

        Raises `QueryTooLongError` (too long) or `InvalidQuestionError` (empty) before anything
        else; retrieval errors propagate; LLM faults end the turn with `answer.error` set.
        """
        started = time.perf_counter()
        asked = question
        question = self.check_question(question)
        turns = [ChatMessage.coerce(m) for m in history]
        mode_ = mode or self.settings.mode
        timings = Timings()
        answer = Answer(
            question=question,
            standalone_question=question,
            text="",
            mode=mode_,
            model=self.llm.model if self.llm else None,
            timings=timings,
            extractive=self.llm is None,
        )

        # (a) condense a follow-up into a standalone question
        if turns and self.llm is not None:
            yield StageEvent("condense")
            t = time.perf_counter()
            try:
                answer.standalone_question, answer.condense_messages = self._condense(
                    question, turns
                )
            except LLMError as exc:
                timings.condense_ms = _ms(t)
                yield self._done(asked, self._fail(answer, exc, started))
                return
            timings.condense_ms = _ms(t)

        # (b) retrieve
        yield StageEvent("retrieve")
        t = time.perf_counter()
        retrieval = self.retriever.search(
            answer.standalone_question,
            mode=mode_,
            top_k=top_k,
            filter=filter,
            relevance=refusal.needs_stored_maxsim(mode_),
        )
        passages = list(retrieval.passages)
        # knowing when not to answer (counting query tokens may encode: part of retrieval)
        answer.threshold = refusal.threshold_for(self.settings, mode_)
        answer.top_score = refusal.top_relevance(
            passages, mode_, self._query_tokens(retrieval, mode_)
        )
        timings.retrieve_ms = _ms(t)
        timings.encode_ms = float(retrieval.timings.get("encode_ms", 0.0))
        timings.search_ms = float(retrieval.timings.get("search_ms", 0.0))
        if not passages or (
            answer.threshold is not None
            and answer.top_score is not None
            and answer.top_score < answer.threshold
        ):
            answer.refused = True
            answer.omitted = passages
            answer.text = self.prompts.render("refusal")
            timings.first_token_ms = _ms(started)
            yield TextEvent(answer.text)
            timings.total_ms = _ms(started)
            yield self._done(asked, answer)
            return

        # (c) pack under the token budget, (d) render the prompt
        t = time.perf_counter()
        context, answer.messages = self.build_prompt(answer.standalone_question, passages)
        answer.omitted = list(context.omitted)
        timings.pack_ms = _ms(t)
        if not context.passages:
            answer.error = (
                f"A context window of {self.settings.llm_context_window} tokens with "
                f"{self.settings.llm_answer_tokens} reserved for the answer leaves no room for "
                f"the passages: raise MSRAG_LLM_CONTEXT_WINDOW or lower MSRAG_LLM_ANSWER_TOKENS."
            )
            answer.error_kind = "budget"
            timings.total_ms = _ms(started)
            yield self._done(asked, answer)
            return
        sources = context.sources()
        yield SourcesEvent(tuple(sources), answer.standalone_question)

        stream = citations.CitationStream(context.numbers)
        if self.llm is None:
            # the retriever's loaded encoders tell which sentences answer (if it offers that)
            chosen = self.extractor.select(
                answer.standalone_question,
                sources,
                relevance=getattr(self.retriever, "relevance", None),
            )
            text = self.extractor.compose(self.prompts.render("extractive"), chosen)
            events = stream.feed(text) + stream.close()
            timings.first_token_ms = _ms(started)
            yield from events
        else:
            yield from self._generate(answer, stream, started)
        self._finish(answer, stream, sources)
        timings.total_ms = _ms(started)
        yield self._done(asked, answer)

    def _done(self, question: str, answer: Answer) -> DoneEvent:
        if self.on_answer is not None:
            self.on_answer(question, answer)
        return DoneEvent(answer)

    def check_question(self, question: str) -> str:
        if not (question or "").strip():
            raise InvalidQuestionError("The question is empty: type a question to ask.")
        # the retriever's own check: one limit, one message for `search` and `ask`
        return check_query(question, self.settings.max_query_chars)

    def build_prompt(
        self, question: str, passages: Sequence[Any]
    ) -> tuple[PackedContext, list[dict[str, str]]]:
        """Pack `passages` into the budget and render the answer messages (system + user)."""
        system = self.prompts.render("system")
        empty = self.prompts.render("answer", passages="", question=question)
        overhead = self.counter.messages(
            [{"role": "system", "content": system}, {"role": "user", "content": empty}]
        )
        budget = (
            self.settings.llm_context_window
            - self.settings.llm_answer_tokens
            - overhead
            - SAFETY_MARGIN_TOKENS
        )
        context = self.packer.pack(passages, max(budget, 0))
        user = self.prompts.render("answer", passages=context.block, question=question)
        return context, [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def condense_messages(
        self, question: str, history: Sequence[ChatMessage]
    ) -> list[dict[str, str]]:
        """The messages that ask the model for a standalone question."""
        lines = []
        for turn in list(history)[-HISTORY_MESSAGES:]:
            content = citations.strip_markers(turn.content).strip()
            if len(content) > HISTORY_MESSAGE_CHARS:
                content = content[:HISTORY_MESSAGE_CHARS].rstrip() + " …"
            role = "User" if turn.role == "user" else "Assistant"
            lines.append(self.prompts.render("turn", role=role, content=content))
        prompt = self.prompts.render("condense", history="\n".join(lines), question=question)
        return [{"role": "user", "content": prompt}]

    # --- stages -------------------------------------------------------------------------------

    def _condense(
        self, question: str, history: Sequence[ChatMessage]
    ) -> tuple[str, list[dict[str, str]]]:
        assert self.llm is not None
        messages = self.condense_messages(question, history)
        reply = self.llm.complete(messages, max_tokens=CONDENSE_MAX_TOKENS)
        standalone = " ".join(reply.split()).strip().strip('"').strip()
        standalone = standalone.removeprefix("Standalone question:").strip()
        # a chatty or empty reply is worse than the raw follow-up: fall back to it
        if not standalone or len(standalone) > max(3 * len(question), 300):
            log.info("condense reply unusable (%d chars); using the question as asked", len(reply))
            return question, messages
        return standalone, messages

    def _generate(
        self, answer: Answer, stream: citations.CitationStream, started: float
    ) -> Iterator[Event]:
        assert self.llm is not None
        timings = answer.timings
        yield StageEvent("generate")
        t = time.perf_counter()
        first: float | None = None
        try:
            llm_stream = self.llm.stream(answer.messages)
            for delta in llm_stream:
                if first is None:
                    first = time.perf_counter()
                    timings.first_token_ms = (first - started) * 1000
                yield from stream.feed(delta)
            if llm_stream.finish_reason == "length":
                answer.partial = True
                answer.error = (
                    f"The answer reached the limit of {self.settings.llm_answer_tokens} tokens and "
                    f"was cut: raise MSRAG_LLM_ANSWER_TOKENS for longer answers."
                )
        except LLMError as exc:
            answer.error = str(exc)
            answer.error_kind = exc.kind
        yield from stream.close()
        end = time.perf_counter()
        timings.generate_ms = (end - t) * 1000
        timings.output_tokens = self.counter.count(stream.text)
        if first is not None and end > first and timings.output_tokens > 1:
            timings.tokens_per_s = (timings.output_tokens - 1) / (end - first)
        if answer.error and stream.text.strip():
            answer.partial = True
        elif not answer.error and not stream.text.strip():
            answer.error = (
                f"The language model '{self.llm.model}' returned an empty answer: ask again, or "
                f"set MSRAG_LLM_MODEL to another model."
            )
            answer.error_kind = "empty"

    def _finish(
        self, answer: Answer, stream: citations.CitationStream, sources: list[Source]
    ) -> None:
        answer.text = stream.text.strip()
        answer.invalid_citations = list(stream.invalid)
        by_source = citations.sentences_by_source(answer.text)
        cited = set(stream.cited)
        answer.sources = [
            _with_sentences(s, by_source.get(s.number, [])) for s in sources if s.number in cited
        ]
        answer.uncited = [s for s in sources if s.number not in cited]
        if answer.invalid_citations:
            log.info("removed citation markers matching no passage: %s", answer.invalid_citations)

    def _fail(self, answer: Answer, exc: LLMError, started: float) -> Answer:
        answer.error = str(exc)
        answer.error_kind = exc.kind
        answer.timings.total_ms = _ms(started)
        return answer

    def _query_tokens(self, retrieval: Any, mode: str) -> int | None:
        # MaxSim sums over query tokens; the retriever reports how many there were
        if not refusal.needs_query_tokens(mode):
            return None
        return getattr(retrieval, "query_tokens", None)


def _with_sentences(source: Source, sentences: list[str]) -> Source:
    return replace(source, sentences=tuple(sentences))


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000
