"""One retriever and one assistant shared by 8 threads give exactly the answers they give alone.

The UI serves every browser session from one engine (`st.cache_resource`), so `Assistant.ask` and
`MultiStageRetriever.aretrieve` run on several threads at once. Here the same questions are first
asked one at a time, then by 8 threads in shuffled orders: no call may fail and every result —
answer text, refusal, cited and uncited passages, retrieved ids and scores — must be identical.
(`bench/load.py` runs the same check for a minute and through the browser.)
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from assistant.chat import Assistant
from retrieval.encoders import Encoders
from retrieval.ingest.offline import OfflineModels
from retrieval.ingest.pipeline import ingest
from retrieval.retriever import MultiStageRetriever
from tests.conftest import DEMO_DOCS, make_settings
from tests.llm_server import ScriptedLLM
from tests.regress.demo_llm import MODEL, demo_reply

pytestmark = pytest.mark.slow

THREADS = 8
QUESTIONS = [
    "When was Ada Lovelace born?",
    "How many days of paid holiday do Northwind Kites employees get?",
    "Where in a plant does photosynthesis take place?",
    "What water temperature is right for brewing sencha?",
    "When was the Skerryvore Point lighthouse first lit?",
    "What altitude did the Zephyr-9 weather balloon reach?",
    "What is the capital of Mongolia?",  # refused before the model is asked
]


@pytest.fixture(scope="module")
def shared(
    offline_model_dirs: OfflineModels, encoders: Encoders, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Assistant, MultiStageRetriever]]:
    with ScriptedLLM(models=[MODEL], default=demo_reply) as llm:
        settings = make_settings(
            offline_model_dirs,
            tmp_path_factory.mktemp("concurrency"),
            openai_base_url=llm.url,
            llm_model=MODEL,
        )
        retriever = MultiStageRetriever.from_settings(settings, encoders=encoders)
        report = ingest([DEMO_DOCS], settings, retriever.store, encoders, progress=False)
        assert report.ok, report.summary()
        yield Assistant(settings, retriever), retriever
        retriever.close()


def _in_threads(work, questions: list[str]) -> list[tuple[str, object]]:  # noqa: ANN001
    """Every question asked by every thread, each thread in its own shuffled order."""

    def one_thread(seed: int) -> list[tuple[str, object]]:
        order = questions[:]
        random.Random(seed).shuffle(order)
        return [(q, work(q)) for q in order]

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return [r for rs in pool.map(one_thread, range(THREADS)) for r in rs]


def test_ask_from_8_threads_equals_asking_alone(shared) -> None:
    assistant, _ = shared

    def key(question: str) -> tuple:
        a = assistant.ask(question)
        return (
            a.text,
            a.refused,
            a.error,
            [s.passage_id for s in a.sources],
            [s.passage_id for s in a.uncited],
        )

    alone = {q: key(q) for q in QUESTIONS}
    assert alone[QUESTIONS[0]][0] and alone[QUESTIONS[-1]][1]  # an answer and a refusal
    assert all(error is None for _, _, error, _, _ in alone.values())
    together = _in_threads(key, QUESTIONS)
    assert len(together) == THREADS * len(QUESTIONS)
    assert [q for q, got in together if got != alone[q]] == []


def test_aretrieve_from_8_threads_equals_retrieving_alone(shared) -> None:
    _, retriever = shared

    def key(question: str) -> list[tuple[str, float]]:
        nodes = asyncio.run(retriever.aretrieve(question))
        return [(n.node.node_id, round(float(n.score), 5)) for n in nodes]

    alone = {q: key(q) for q in QUESTIONS}
    assert all(alone[q] for q in QUESTIONS[:-1])
    together = _in_threads(key, QUESTIONS)
    assert [q for q, got in together if got != alone[q]] == []
