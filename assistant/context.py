"""The context window: token counting and packing numbered passages under a budget.

Budget = model context window − tokens reserved for the answer − the prompt around the
passages (system prompt, question, message overhead). Passages go in rank order, highest first;
the first one that does not fit whole is cut at a sentence boundary (and marked as cut) if at
least one sentence fits, the rest are omitted and reported.

>>> counter = TokenCounter.for_model("gpt-4o-mini")
>>> counter.count("Ada Lovelace")
4
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import tiktoken
import tiktoken.model

from assistant import sentences
from assistant.prompts import PromptLibrary, attribute, defuse_markers, neutralise
from assistant.types import Source
from retrieval.ingest.chunking import load_encoding
from retrieval.types import Passage

# Chat formats add a few tokens per message (role, separators); OpenAI documents ~3-4.
MESSAGE_OVERHEAD_TOKENS = 4
# Slack for tokenisation differences between counting pieces and the joined prompt, and for
# models whose tokenizer is not tiktoken's (local servers): we count with cl100k then.
SAFETY_MARGIN_TOKENS = 32
# Below this many free tokens a cut passage would be a fragment: leave it out instead.
MIN_USEFUL_TOKENS = 24
TRUNCATION_MARK = " […]"

_FALLBACK_ENCODING = "cl100k_base"


class TokenCounter:
    """Counts tokens with the model's tiktoken encoding (cl100k_base for unknown models).

    >>> TokenCounter.for_model("my-local-llama").encoding.name
    'cl100k_base'
    """

    def __init__(self, encoding: tiktoken.Encoding) -> None:
        self.encoding = encoding

    @classmethod
    def for_model(cls, model: str) -> TokenCounter:
        try:
            name = tiktoken.model.encoding_name_for_model(model)
        except KeyError:
            name = _FALLBACK_ENCODING
        if name not in ("cl100k_base", "o200k_base"):  # the only offline files we have
            name = _FALLBACK_ENCODING
        return cls(load_encoding(name))

    def count(self, text: str) -> int:
        return len(self.encoding.encode(text, disallowed_special=()))

    def head(self, text: str, tokens: int) -> str:
        """The longest prefix of `text` with at most `tokens` tokens."""
        ids = self.encoding.encode(text, disallowed_special=())
        return self.encoding.decode(ids[: max(tokens, 0)])

    def messages(self, messages: Sequence[dict[str, str]]) -> int:
        return sum(self.count(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages) + 3


@dataclass(frozen=True)
class PackedPassage:
    """A passage as numbered and sent: `text` may be cut (then `truncated` is True)."""

    number: int
    passage: Passage
    text: str
    truncated: bool
    tokens: int
    rendered: str  # the <passage …>…</passage> block as it appears in the prompt

    def to_source(self) -> Source:
        return Source.from_passage(self.number, self.passage, self.text, self.truncated)


@dataclass(frozen=True)
class PackedContext:
    passages: tuple[PackedPassage, ...]
    omitted: tuple[Passage, ...]  # retrieved, but over the budget
    budget: int
    used: int

    @property
    def block(self) -> str:
        """All rendered passages, as they fill the `${passages}` slot."""
        return "\n\n".join(p.rendered for p in self.passages)

    @property
    def numbers(self) -> list[int]:
        return [p.number for p in self.passages]

    def sources(self) -> list[Source]:
        return [p.to_source() for p in self.passages]


class ContextPacker:
    """Numbers passages and fits them into a token budget.

    >>> packer = ContextPacker(PromptLibrary.default(), TokenCounter.for_model("gpt-4o-mini"))
    >>> p = Passage(id="1", score=1.0, text="Ada was born in 1815.", doc_id="d", source="ada.md",
    ...             title="Ada", chunk_index=0, char_start=0, char_end=21)
    >>> packer.pack([p], budget=200).passages[0].rendered.splitlines()[0]
    '<passage n="1" title="Ada" source="ada.md">'
    """

    def __init__(self, prompts: PromptLibrary, counter: TokenCounter) -> None:
        self.prompts = prompts
        self.counter = counter

    def render(self, number: int, passage: Passage, text: str, truncated: bool = False) -> str:
        attrs = ""
        if passage.page is not None:
            attrs += f' page="{attribute(passage.page)}"'
        if passage.heading:
            attrs += f' heading="{attribute(passage.heading)}"'
        if truncated:
            attrs += ' truncated="true"'
        return self.prompts.render(
            "passage",
            number=number,
            title=attribute(passage.title or passage.doc_id),
            source=attribute(passage.source),
            attributes=attrs,
            text=defuse_markers(neutralise(text.strip())),
        )

    def pack(self, passages: Sequence[Passage], budget: int) -> PackedContext:
        """Fill `budget` tokens with `passages` in the order given (highest-ranked first)."""
        packed: list[PackedPassage] = []
        used = 0
        for i, passage in enumerate(passages):
            number = len(packed) + 1
            # joining blocks with a blank line costs about one token each
            remaining = budget - used - (1 if packed else 0)
            rendered = self.render(number, passage, passage.text)
            tokens = self.counter.count(rendered)
            if tokens <= remaining:
                packed.append(PackedPassage(number, passage, passage.text, False, tokens, rendered))
                used += tokens + (1 if number > 1 else 0)
                continue
            cut = self._cut(number, passage, remaining, first=not packed)
            if cut is not None:
                packed.append(cut)
                used += cut.tokens + (1 if number > 1 else 0)
                i += 1
            return PackedContext(tuple(packed), tuple(passages[i:]), budget, used)
        return PackedContext(tuple(packed), (), budget, used)

    def _cut(
        self, number: int, passage: Passage, remaining: int, first: bool
    ) -> PackedPassage | None:
        if remaining < MIN_USEFUL_TOKENS:
            return None
        spans = sentences.split_spans(passage.text)

        def attempt(text: str) -> PackedPassage:
            rendered = self.render(number, passage, text + TRUNCATION_MARK, truncated=True)
            return PackedPassage(
                number,
                passage,
                text + TRUNCATION_MARK,
                True,
                self.counter.count(rendered),
                rendered,
            )

        # binary search the most whole sentences that fit
        lo, hi, best = 1, len(spans) - 1, None
        while lo <= hi:
            mid = (lo + hi) // 2
            candidate = attempt(passage.text[: spans[mid - 1][1]])
            if candidate.tokens <= remaining:
                best, lo = candidate, mid + 1
            else:
                hi = mid - 1
        if best is not None or not first:
            return best
        # Not even one sentence fits and nothing was packed: send the start of the top passage,
        # cut mid-sentence — marked as cut, so neither the model nor the reader is misled.
        overhead = attempt("").tokens
        head = self.counter.head(passage.text, remaining - overhead).rstrip()
        return attempt(head) if head else None
