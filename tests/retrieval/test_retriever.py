"""MultiStageRetriever: argument checks, every mode over the real engine and encoders, and the
LlamaIndex plugin promise (it works unchanged inside LlamaIndex's own chat engine)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.chat_engine import CondensePlusContextChatEngine
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback

from msrag.settings import Settings
from retrieval.encoders import Encoders
from retrieval.errors import EmptyQueryError, QueryTooLongError
from retrieval.modes import MODES
from retrieval.retriever import MultiStageRetriever
from retrieval.types import Chunk, Filter

FACTS = {
    "ada.md": (
        "Ada Lovelace",
        "Ada Lovelace was born on 10 December 1815 in London. She wrote the "
        "first published algorithm for Charles Babbage's Analytical Engine.",
    ),
    "lighthouse.md": (
        "Cape Lighthouse",
        "The Cape Wrath lighthouse was built in 1828 by Robert "
        "Stevenson. Its keepers left when it was automated in 1998.",
    ),
    "bread.md": (
        "Sourdough",
        "Sourdough bread rises with a starter of wild yeast and lactic acid "
        "bacteria; the dough ferments for twelve hours before baking.",
    ),
    "leaves.md": (
        "Photosynthesis",
        "Photosynthesis in chloroplasts turns light, water and carbon "
        "dioxide into glucose and oxygen.",
    ),
}


def _chunks() -> list[Chunk]:
    out = []
    for source, (title, text) in FACTS.items():
        out.append(
            Chunk(
                id=str(uuid.uuid5(uuid.NAMESPACE_URL, source)),
                doc_id=source,
                source=source,
                title=title,
                text=text,
                chunk_index=0,
                chunk_count=1,
                char_start=0,
                char_end=len(text),
                file_hash="h",
                heading=title,
            )
        )
    return out


@pytest.fixture
def retriever(settings: Settings, encoders: Encoders) -> Iterator[MultiStageRetriever]:
    r = MultiStageRetriever.from_settings(settings, encoders=encoders, top_k=2)
    chunks = _chunks()
    r.store.upsert(chunks, encoders.encode_documents([c.text for c in chunks]))
    yield r
    r.close()


class TestArguments:
    @pytest.mark.parametrize(
        ("name", "value"), [("top_k", 0), ("prefetch_limit", -1), ("rrf_k", 0)]
    )
    def test_non_positive_numbers_are_rejected_by_name(
        self, retriever, name: str, value: int
    ) -> None:
        with pytest.raises(ValueError, match=name):
            MultiStageRetriever(retriever.store, retriever.encoders, **{name: value})

    def test_unknown_mode_lists_the_valid_ones(self, retriever) -> None:
        with pytest.raises(ValueError, match="hybrid\\+colbert"):
            retriever.search("x", mode="colbert-only")

    @pytest.mark.parametrize("query", ["", "   ", "\n\t "])
    def test_an_empty_query_is_refused_not_answered_with_arbitrary_passages(
        self, retriever, query: str
    ) -> None:
        with pytest.raises(EmptyQueryError, match="empty"):
            retriever.search(query)
        with pytest.raises(EmptyQueryError):
            retriever.retrieve(query)  # the LlamaIndex entry point too

    def test_the_query_limit_is_the_question_limit(self, retriever, settings: Settings) -> None:
        assert retriever.max_query_chars == settings.max_query_chars == 4000
        short = MultiStageRetriever(retriever.store, retriever.encoders, max_query_chars=120)
        assert short.search("  " + "sourdough " * 12 + "  ").passages  # 119 once stripped
        with pytest.raises(QueryTooLongError, match="MSRAG_MAX_QUESTION_CHARS"):
            short.search("sourdough " * 13)

    def test_settings_are_the_defaults(self, settings: Settings, encoders: Encoders) -> None:
        r = MultiStageRetriever.from_settings(settings, encoders=encoders)
        try:
            assert (r.mode, r.top_k, r.prefetch_limit, r.rrf_k) == (
                "hybrid+colbert+dbsf",
                5,
                100,
                2,
            )
            assert (r.dense_exact, r.hnsw_ef) == (False, 256)
        finally:
            r.close()


class TestSearch:
    @pytest.mark.parametrize("mode", [m for m in MODES if m != "muvera+colbert"])
    def test_every_mode_finds_the_answering_passage(self, retriever, mode: str) -> None:
        result = retriever.search("When was Ada Lovelace born?", mode=mode)
        assert result.passages[0].source == "ada.md"
        assert [p.rank for p in result.passages] == list(range(1, len(result.passages) + 1))
        assert result.mode == mode
        assert result.timings["total_ms"] >= result.timings["search_ms"] > 0

    @pytest.mark.parametrize("mode", ["hybrid+colbert+rrf", "hybrid+colbert+dbsf"])
    def test_fused_modes_read_back_the_engines_maxsim(self, retriever, mode: str) -> None:
        # MaxSim from the stored vectors returned with the result is the engine's own MaxSim:
        # the same passages scored by the plain rerank carry it as their score.
        q = "When was Ada Lovelace born?"
        fused = retriever.search(q, mode=mode, top_k=4, relevance=True)
        plain = {
            p.id: p.score for p in retriever.search(q, mode="hybrid+colbert", top_k=4).passages
        }
        tokens = fused.query_tokens
        assert tokens and len(fused.passages) == 4
        for p in fused.passages:
            assert p.maxsim_per_token == pytest.approx(plain[p.id] / tokens, abs=1e-4)
            assert p.colbert is None  # read for the check, not returned unless asked
        assert retriever.search(q, mode=mode).passages[0].maxsim_per_token is None

    def test_rerank_reorders_what_the_prefetch_found(self, retriever) -> None:
        q = "who built the lighthouse and when were the keepers gone"
        reranked = retriever.search(q, mode="hybrid+colbert", top_k=4).passages
        assert reranked[0].source == "lighthouse.md"
        assert all(a.score >= b.score for a, b in zip(reranked, reranked[1:], strict=False))

    def test_filter_by_source_restricts_every_stage(self, retriever) -> None:
        only = Filter(must={"source": ["bread.md"]})
        result = retriever.search("When was Ada Lovelace born?", filter=only, top_k=4)
        assert [p.source for p in result.passages] == ["bread.md"]

    def test_passage_carries_citation_fields(self, retriever) -> None:
        p = retriever.search("sourdough starter", top_k=1).passages[0]
        assert (p.title, p.source, p.heading, p.char_start, p.char_end) == (
            "Sourdough",
            "bread.md",
            "Sourdough",
            0,
            len(FACTS["bread.md"][1]),
        )


class TestLlamaIndexPlugin:
    def test_retrieve_returns_nodes_with_payload_metadata(self, retriever) -> None:
        nodes = retriever.retrieve("chloroplasts and light")
        assert nodes[0].node.metadata["source"] == "leaves.md"
        assert nodes[0].score == pytest.approx(nodes[0].node.metadata["score"])
        assert nodes[0].node.node_id == str(uuid.uuid5(uuid.NAMESPACE_URL, "leaves.md"))

    def test_aretrieve_gives_the_same_nodes(self, retriever) -> None:
        sync = retriever.retrieve("sourdough yeast")
        async_ = asyncio.run(retriever.aretrieve("sourdough yeast"))
        assert [n.node.node_id for n in async_] == [n.node.node_id for n in sync]

    def test_condense_plus_context_chat_engine_uses_our_passages(self, retriever) -> None:
        llm = ScriptedLLM(
            [
                "Ada Lovelace was a mathematician.",  # answer to the first turn (no condense step)
                "When was Ada Lovelace born?",  # the condensed follow-up
                "She was born in 1815.",
            ]
        )
        engine = CondensePlusContextChatEngine.from_defaults(retriever=retriever, llm=llm)
        first = engine.chat("Tell me about Ada Lovelace")
        follow_up = engine.chat("When was she born?")
        # the follow-up was condensed by the LLM, then retrieved with OUR retriever
        assert "When was she born?" in llm.prompts[-2]
        assert follow_up.response == "She was born in 1815."
        assert follow_up.source_nodes[0].node.metadata["source"] == "ada.md"
        assert "10 December 1815" in llm.prompts[-1]  # our passage reached the answer prompt
        assert first.response == "Ada Lovelace was a mathematician." and first.source_nodes
        assert len(llm.prompts) == 3  # exactly three LLM calls: answer, condense, answer


class ScriptedLLM(CustomLLM):
    """Answers with scripted replies and records every prompt it was sent."""

    replies: list[str]
    prompts: list[str] = []

    def __init__(self, replies: Sequence[str]) -> None:
        super().__init__(replies=list(replies), prompts=[])

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(is_chat_model=True, model_name="scripted")

    def _next(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = self._next("\n".join(str(m.content) for m in messages))
        return ChatResponse(message=ChatMessage(role="assistant", content=text))

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self._next(prompt))

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        yield self.complete(prompt)
