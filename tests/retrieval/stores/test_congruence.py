"""The same points and the same plans give the same results on both engines.

Like qdrant-client's own congruence tests: EdgeStore (qdrant-edge, Qdrant's Rust segments) and
ServerStore over `QdrantClient(":memory:")` (qdrant-client's numpy local mode, the reference the
client ships for a server) must return identical top-10 ids with scores within 1e-4. With
QDRANT_URL set, every test also runs against that real server (`tests/qdrant_servers.py`).

The one allowed difference: the order of exactly equal scores. Each engine breaks ties by its
own internal order (segment offsets in edge, a numpy sort in local mode). So at every rank the
scores must agree, and every id one engine returns must carry that same score in the other's
results. With random vectors ties never happen, except in RRF: fused scores depend on ranks
alone, so points at the same rank of different lists get exactly equal scores (common, see
`test_rrf_ties_really_occur`). With real text BM25 ties occur too, and RRF turns a swapped BM25
tie into different fused scores; the RRF check therefore compares the fused rankings between
the engines and checks each engine's fusion against its own rankings.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from retrieval.encoders import Encoders
from retrieval.ingest.offline import OfflineModels
from retrieval.modes import MODES
from retrieval.schema import Layout
from retrieval.stores import EdgeStore, ServerStore
from retrieval.types import Chunk, Filter, Passage, QueryPlan
from tests.conftest import DEMO_DOCS, make_settings
from tests.qdrant_servers import ServerBackend
from tests.retrieval.stores.conftest import FILTERS, Corpus
from tests.retrieval.stores.helpers import assert_congruent

# How the dense prefetch searches: always by scan, or the product's default (Qdrant scans a
# store under its full-scan threshold and walks the HNSW graph past it). These stores are small,
# so the default must give exactly the scan's results (local mode always scans).
DENSE_SEARCH = {"exact": {"dense_exact": True}, "default": {"dense_exact": False, "hnsw_ef": 256}}


def _ties(passages: list[Passage]) -> int:
    scores = [round(p.score, 6) for p in passages]
    return len(scores) - len(set(scores))


class TestSyntheticCorpus:
    @pytest.fixture(scope="class")
    def stores(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        layout: Layout,
        corpus: Corpus,
        server_backend: ServerBackend,
    ) -> Iterator[tuple[EdgeStore, ServerStore]]:
        edge = EdgeStore(tmp_path_factory.mktemp("congruence") / "shard", layout)
        client = server_backend.client()
        server = ServerStore(client, server_backend.collection(client), layout)
        for store in (edge, server):
            store.upsert(corpus.chunks, corpus.vectors)
            store.optimize()
        yield edge, server
        edge.close()
        server.close()

    @pytest.mark.parametrize("dense_search", list(DENSE_SEARCH))
    @pytest.mark.parametrize("filter_name", list(FILTERS))
    @pytest.mark.parametrize("mode", MODES)
    def test_every_mode_agrees(
        self,
        stores: tuple[EdgeStore, ServerStore],
        corpus: Corpus,
        mode: str,
        filter_name: str,
        dense_search: str,
    ) -> None:
        for query in corpus.queries:
            plan = QueryPlan(
                mode,  # type: ignore[arg-type]
                query,
                top_k=10,
                prefetch_limit=30,
                filter=FILTERS[filter_name],
                **DENSE_SEARCH[dense_search],  # type: ignore[arg-type]
            )
            assert_congruent(plan, *stores)

    def test_rrf_ties_really_occur(
        self, stores: tuple[EdgeStore, ServerStore], corpus: Corpus
    ) -> None:
        # Why the RRF check is looser: equal fused scores are common, not hypothetical.
        edge, _ = stores
        plans = [QueryPlan("hybrid", q, top_k=10, prefetch_limit=30) for q in corpus.queries]
        assert sum(_ties(edge.query(plan)) for plan in plans) > 0


class TestRealEncoders:
    """Real MiniLM dense/token vectors and real BM25 on the demo documents."""

    QUESTIONS = (
        "Who wrote the first computer program?",
        "How long should green tea steep?",
        "What do plants need for photosynthesis?",
        "How is a sourdough starter fed?",
    )

    @pytest.fixture(scope="class")
    def muvera_encoders(
        self, offline_model_dirs: OfflineModels, tmp_path_factory: pytest.TempPathFactory
    ) -> tuple[Encoders, Layout]:
        # MUVERA on, so that every mode, muvera+colbert included, runs on real vectors.
        settings = make_settings(offline_model_dirs, tmp_path_factory.mktemp("enc"), muvera=True)
        encoders = Encoders(settings)
        return encoders, encoders.layout(settings)

    @pytest.fixture(scope="class")
    def stores(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        muvera_encoders: tuple[Encoders, Layout],
        server_backend: ServerBackend,
    ) -> Iterator[tuple[EdgeStore, ServerStore]]:
        encoders, layout = muvera_encoders
        chunks = _demo_chunks()
        vectors = encoders.encode_documents([c.text for c in chunks])
        edge = EdgeStore(tmp_path_factory.mktemp("real") / "shard", layout)
        client = server_backend.client()
        server = ServerStore(client, server_backend.collection(client), layout)
        for store in (edge, server):
            store.upsert(chunks, vectors)
        yield edge, server
        edge.close()
        server.close()

    @pytest.mark.parametrize("dense_search", list(DENSE_SEARCH))
    @pytest.mark.parametrize("mode", MODES)
    def test_every_mode_agrees(
        self,
        stores: tuple[EdgeStore, ServerStore],
        muvera_encoders: tuple[Encoders, Layout],
        mode: str,
        dense_search: str,
    ) -> None:
        encoders, _ = muvera_encoders
        for question in self.QUESTIONS:
            query = encoders.encode_query(question)
            for flt in (None, Filter(must_not={"source": "photosynthesis.md"})):
                plan = QueryPlan(
                    mode,  # type: ignore[arg-type]
                    query,
                    top_k=10,
                    prefetch_limit=20,
                    filter=flt,
                    **DENSE_SEARCH[dense_search],  # type: ignore[arg-type]
                )
                assert_congruent(plan, *stores)

    def test_the_answer_is_found(
        self, stores: tuple[EdgeStore, ServerStore], muvera_encoders: tuple[Encoders, Layout]
    ) -> None:
        # Not a quality test; it shows the congruent results are meaningful, not both empty.
        encoders, _ = muvera_encoders
        edge, _ = stores
        plan = QueryPlan("hybrid+colbert", encoders.encode_query(self.QUESTIONS[0]), top_k=3)
        assert edge.query(plan)[0].source == "ada_lovelace.md"


def _demo_chunks() -> list[Chunk]:
    """The plain-text demo documents, one chunk per paragraph (HTML/PDF need the loaders)."""
    chunks: list[Chunk] = []
    for path in sorted(DEMO_DOCS.glob("*")):
        if path.suffix not in (".md", ".txt"):
            continue
        text = path.read_text(encoding="utf-8")
        paragraphs = [p for p in text.split("\n\n") if p.strip()]
        offset = 0
        for index, paragraph in enumerate(paragraphs):
            start = text.index(paragraph, offset)
            offset = start + len(paragraph)
            chunks.append(
                Chunk(
                    id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{path.name}#{index}")),
                    doc_id=path.stem,
                    source=path.name,
                    title=path.stem,
                    text=paragraph,
                    chunk_index=index,
                    chunk_count=len(paragraphs),
                    char_start=start,
                    char_end=offset,
                    file_hash=path.stem,
                )
            )
    assert len(chunks) >= 20
    return chunks
