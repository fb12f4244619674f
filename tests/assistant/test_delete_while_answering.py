"""A document deleted while a turn is answering from it: that answer finishes, later searches
never return it (real store, real encoders, the assistant's own stream)."""

from __future__ import annotations

from assistant.chat import Assistant
from assistant.types import DoneEvent, SourcesEvent
from msrag.settings import Settings
from retrieval.encoders import Encoders
from retrieval.ingest.library import delete_document, documents
from retrieval.ingest.pipeline import ingest
from retrieval.retriever import MultiStageRetriever
from tests.conftest import DEMO_DOCS


def test_the_running_answer_finishes_and_later_ones_never_see_it(
    settings: Settings, encoders: Encoders
) -> None:
    retriever = MultiStageRetriever.from_settings(settings, encoders=encoders)
    try:
        assert ingest([DEMO_DOCS], settings, retriever.store, retriever.encoders, progress=False).ok
        ada = next(
            d.source for d in documents(retriever.store) if d.source.endswith("ada_lovelace.md")
        )
        assistant = Assistant(settings, retriever)
        events = assistant.stream("When was Ada Lovelace born?")
        for event in events:
            if isinstance(event, SourcesEvent):
                break  # retrieval is done: the other tab deletes the document now
        assert any(s.source == ada for s in event.sources)
        delete_document(retriever.store, ada)
        done = [e for e in events if isinstance(e, DoneEvent)]
        assert done and "1815" in done[0].answer.text
        assert any(s.source == ada for s in done[0].answer.sources)
        later = assistant.ask("When was Ada Lovelace born?")
        assert all(s.source != ada for s in later.all_sources)
    finally:
        retriever.close()
