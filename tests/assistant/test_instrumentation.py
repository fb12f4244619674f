"""LlamaIndex observability on the product's own path: a chat turn's retrieval fires LlamaIndex's
instrumentation events and callback events, with the nodes and scores the answer was built from,
so a user who plugs in LlamaIndex's Langfuse or Arize Phoenix handlers sees every turn."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.retrieval import (
    RetrievalEndEvent,
    RetrievalStartEvent,
)

from assistant.chat import Assistant
from msrag.settings import Settings
from retrieval.encoders import Encoders
from retrieval.ingest.pipeline import ingest
from retrieval.retriever import MultiStageRetriever
from tests.conftest import DEMO_DOCS


class Recorder(BaseEventHandler):
    """Keeps every retrieval event the root dispatcher sends."""

    events: list[BaseEvent] = []

    @classmethod
    def class_name(cls) -> str:
        return "Recorder"

    def handle(self, event: BaseEvent, **kwargs: object) -> None:
        if isinstance(event, RetrievalStartEvent | RetrievalEndEvent):
            self.events.append(event)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    dispatcher = get_dispatcher()
    handler = Recorder(events=[])
    dispatcher.add_event_handler(handler)
    yield handler
    dispatcher.event_handlers.remove(handler)


@pytest.fixture
def demo(
    settings: Settings, encoders: Encoders
) -> Iterator[tuple[MultiStageRetriever, LlamaDebugHandler]]:
    debug = LlamaDebugHandler()
    retriever = MultiStageRetriever.from_settings(
        settings, encoders=encoders, callback_manager=CallbackManager([debug])
    )
    ingest([DEMO_DOCS], settings, retriever.store, encoders, progress=False)
    yield retriever, debug
    retriever.close()


def test_a_chat_turn_fires_llamaindex_retrieval_events_with_its_nodes(
    settings: Settings, demo, recorder: Recorder
) -> None:
    retriever, debug = demo
    answer = Assistant(settings, retriever).ask("When was Ada Lovelace born?")
    assert answer.ok and answer.sources

    starts = [e for e in recorder.events if isinstance(e, RetrievalStartEvent)]
    ends = [e for e in recorder.events if isinstance(e, RetrievalEndEvent)]
    assert len(starts) == len(ends) == 1  # one turn, one retrieval (no LLM, so no condense)
    assert starts[0].str_or_query_bundle.query_str == "When was Ada Lovelace born?"
    # the nodes the handler sees are the passages the answer was built from, with their scores
    sent = sorted(answer.sources + answer.uncited, key=lambda s: s.rank)
    nodes = ends[0].nodes
    assert [n.node.node_id for n in nodes][: len(sent)] == [s.passage_id for s in sent]
    assert [n.score for n in nodes][: len(sent)] == pytest.approx([s.score for s in sent])
    assert nodes[0].node.metadata["source"].endswith("ada_lovelace.md")

    # the legacy callback manager sees the same retrieval
    retrieves = debug.get_event_pairs(CBEventType.RETRIEVE)
    assert len(retrieves) == 1


def test_search_options_reach_the_query_and_do_not_leak_into_plain_retrieve(
    demo, recorder: Recorder
) -> None:
    retriever, _ = demo
    result = retriever.search("sourdough starter", mode="hybrid", top_k=2)
    assert result.mode == "hybrid" and len(result.passages) == 2
    plain = retriever.retrieve("sourdough starter")  # the retriever's own defaults again
    assert len(plain) == retriever.top_k
    ends = [e for e in recorder.events if isinstance(e, RetrievalEndEvent)]
    assert [len(e.nodes) for e in ends] == [2, retriever.top_k]
