"""The values the assistant hands to its callers (CLI, UI, prompt regression).

`Answer` is the result of one chat turn; `Source` is one numbered passage that was sent to the
model; the `*Event` classes are what `Assistant.stream()` yields while a turn is running.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from retrieval.types import Passage

Role = Literal["user", "assistant"]

# Shown with a written answer that cites nothing: the reader cannot tell it from a grounded one.
UNCITED_NOTICE = "This answer cites no source — check it against the passages below."


@dataclass(frozen=True)
class ChatMessage:
    """One earlier turn of the conversation, as the caller keeps it.

    >>> ChatMessage("user", "Who was Ada Lovelace?")
    ChatMessage(role='user', content='Who was Ada Lovelace?')
    """

    role: Role
    content: str

    @classmethod
    def coerce(cls, item: ChatMessage | Mapping[str, Any] | Answer) -> ChatMessage:
        """Accept what callers naturally keep: a ChatMessage, an OpenAI-style dict, an Answer."""
        if isinstance(item, ChatMessage):
            return item
        if isinstance(item, Answer):
            return cls("assistant", item.text)
        role = str(item.get("role", ""))
        if role not in ("user", "assistant"):
            raise ValueError(f"history messages need role 'user' or 'assistant', got {role!r}")
        return cls(role, str(item.get("content", "")))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Source:
    """A numbered passage that was sent to the model, with everything needed to show and cite it.

    `number` is the `[n]` the answer uses; `sentences` are the answer sentences that cite it
    (empty for an uncited source).
    """

    number: int
    passage_id: str
    doc_id: str
    title: str
    source: str  # file path or URL
    page: int | None
    heading: str | None
    text: str  # the passage text as sent (possibly shortened, see `truncated`)
    char_start: int  # offsets of the passage in its document's extracted text
    char_end: int
    score: float  # the retriever's final score for this passage
    rank: int
    truncated: bool = False  # cut at a sentence boundary to fit the token budget
    sentences: tuple[str, ...] = ()

    @classmethod
    def from_passage(
        cls, number: int, passage: Passage, text: str | None = None, truncated: bool = False
    ) -> Source:
        return cls(
            number=number,
            passage_id=passage.id,
            doc_id=passage.doc_id,
            title=passage.title,
            source=passage.source,
            page=passage.page,
            heading=passage.heading,
            text=passage.text if text is None else text,
            char_start=passage.char_start,
            char_end=passage.char_end,
            score=passage.score,
            rank=passage.rank,
            truncated=truncated,
        )

    @property
    def location(self) -> str:
        """'p. 3', 'Early life', 'p. 3 · Early life' or '' — for a sources list."""
        parts = []
        if self.page is not None:
            parts.append(f"p. {self.page}")
        if self.heading:
            parts.append(self.heading)
        return " · ".join(parts)


@dataclass
class Timings:
    """Milliseconds per stage of one turn (0 for a stage that did not run).

    `first_token_ms` runs from the start of the turn to the first answer text (the latency a
    user feels); `generate_ms` from sending the answer request to the end of the stream;
    `tokens_per_s` counts answer tokens (tiktoken) after the first one.
    """

    condense_ms: float = 0.0
    retrieve_ms: float = 0.0
    encode_ms: float = 0.0  # part of retrieve_ms, as the retriever reports it
    search_ms: float = 0.0  # part of retrieve_ms
    pack_ms: float = 0.0  # token budget + prompt rendering
    first_token_ms: float = 0.0
    generate_ms: float = 0.0
    total_ms: float = 0.0
    output_tokens: int = 0
    tokens_per_s: float = 0.0


@dataclass
class Answer:
    """The result of one chat turn.

    >>> a = Answer(question="q", standalone_question="q", text="Ada was born in 1815 [1].")
    >>> a.ok
    True

    - `text`: the answer with only valid citation markers, normalised to `[1][2]` form.
    - `sources`: the cited sources, by number; `uncited`: sources sent but not cited;
      `omitted`: passages retrieved but left out by the token budget.
    - `messages`: the answer prompt exactly as sent to the model (role/content dicts; never a
      secret) — in extractive mode, the prompt a model would have been sent;
      `condense_messages`: the condense prompt, when a follow-up was condensed.
    - `extractive`: no LLM configured, the text is sentences copied from the passages;
      `refused`: retrieval was too weak to answer; `partial`: the text stopped early because
      of `error` (one sentence saying what went wrong and what to do).
    - `invalid_citations`: marker numbers the model produced that matched no sent passage;
      they were removed from `text`.
    """

    question: str
    standalone_question: str
    text: str
    sources: list[Source] = field(default_factory=list)
    uncited: list[Source] = field(default_factory=list)
    omitted: list[Passage] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    messages: list[dict[str, str]] = field(default_factory=list)
    condense_messages: list[dict[str, str]] = field(default_factory=list)
    mode: str = ""
    model: str | None = None
    extractive: bool = False
    refused: bool = False
    partial: bool = False
    error: str | None = None
    error_kind: str | None = None  # LLMError.kind: connection, timeout, auth, model, …
    invalid_citations: list[int] = field(default_factory=list)
    top_score: float | None = None  # the score the refusal threshold was compared with
    threshold: float | None = None

    @property
    def ok(self) -> bool:
        """True when the text is a complete answer (possibly a refusal), not cut by an error."""
        return self.error is None

    @property
    def cites_nothing(self) -> bool:
        """A written (LLM) answer with text but not one valid citation: show `UNCITED_NOTICE`.

        Extractive answers always cite; refusals and failures (a cut-short answer included, whose
        marker may simply not have arrived) say what they are instead.
        """
        return (
            not self.extractive
            and not self.refused
            and self.error is None
            and bool(self.text.strip())
            and not self.sources
            and bool(self.uncited)
        )

    @property
    def all_sources(self) -> list[Source]:
        """Every source sent to the model, cited or not, by number."""
        return sorted(self.sources + self.uncited, key=lambda s: s.number)

    def source(self, number: int) -> Source | None:
        return next((s for s in self.all_sources if s.number == number), None)


# --- what Assistant.stream() yields --------------------------------------------------------


@dataclass(frozen=True)
class StageEvent:
    """A stage of the turn started ('condense', 'retrieve', 'generate') — for spinners."""

    stage: Literal["condense", "retrieve", "generate"]
    detail: str = ""


@dataclass(frozen=True)
class SourcesEvent:
    """The numbered sources sent to the model, before any answer text (citations point here)."""

    sources: tuple[Source, ...]
    standalone_question: str


@dataclass(frozen=True)
class TextEvent:
    """Answer text to append as it arrives (never contains a citation marker)."""

    text: str


@dataclass(frozen=True)
class CitationEvent:
    """A citation at this point of the text: one or more valid source numbers, e.g. (1, 2).

    Invalid numbers are already removed; a marker with only invalid numbers yields no event.
    """

    numbers: tuple[int, ...]

    @property
    def marker(self) -> str:
        return "".join(f"[{n}]" for n in self.numbers)


@dataclass(frozen=True)
class DoneEvent:
    """The turn is over: the final `Answer` (also when it ended with an error)."""

    answer: Answer


Event = StageEvent | SourcesEvent | TextEvent | CitationEvent | DoneEvent
