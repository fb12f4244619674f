"""The multi-vector options end to end: each one through ingest, storage and query on both store
adapters; quantized storage keeps float32's top results; a collection opened with another
configuration refuses with an error naming the difference."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from msrag.settings import Settings
from retrieval.encoders import Encoders
from retrieval.errors import LayoutMismatchError
from retrieval.ingest.offline import OfflineModels
from retrieval.ingest.pipeline import ingest
from retrieval.pooling import pooled_count
from retrieval.postprocess import apply_index_time_options, muvera_dim, query_muvera
from retrieval.retriever import MultiStageRetriever
from retrieval.schema import Layout
from retrieval.stores import EdgeStore, ServerStore, Store
from retrieval.types import Chunk, ChunkVectors, QueryPlan
from tests.conftest import DEMO_DOCS, make_settings

# Each option as users set it (environment variable MSRAG_<NAME>).
OPTIONS: dict[str, dict[str, object]] = {
    "float32": {},
    "colbert-float16": {"colbert_datatype": "float16"},
    "colbert-uint8": {"colbert_datatype": "uint8"},
    "colbert-int8": {"colbert_quantization": "int8"},
    "colbert-on-disk": {"colbert_on_disk": True},
    "dense-int8": {"dense_quantization": "int8"},
    "pool2": {"pool_factor": 2},
    "pool3": {"pool_factor": 3},
    "muvera": {"muvera": True},
}
QUANTIZED = ("colbert-float16", "colbert-uint8", "colbert-int8", "colbert-on-disk", "dense-int8")
# Questions about the demo corpus and the file that answers each.
QUESTIONS = {
    "Who is called the first computer programmer?": "ada_lovelace.md",
    "How hot should the water be for sencha?": "green_tea.html",
    "Who was the engineer of the Skerryvore Point Lighthouse?": "lighthouse_history.pdf",
    "What are the core working hours at Northwind Kites?": "northwind_handbook.md",
    "How often do snake plants need water?": "office_plants.txt",
    "Where in the leaf does photosynthesis take place?": "photosynthesis.md",
    "How long is the autolyse for the sourdough loaf?": "sourdough_recipe.txt",
}
STORES = ("edge", "server")


def _modes(option: str) -> tuple[str, ...]:
    return ("hybrid+colbert", "dense", "hybrid") + (
        ("muvera+colbert",) if option == "muvera" else ()
    )


class _OptionEncoders:
    """The session's real encoders, each demo text encoded once per test module, with one
    configuration's index-time options applied to the result exactly as `Encoders` applies them
    (re-encoding the corpus for every configuration would cost minutes on two cores)."""

    def __init__(self, encoders: Encoders, cache: dict[str, ChunkVectors], settings: Settings):
        self._encoders, self._cache, self._settings = encoders, cache, settings
        self.batch_size = encoders.batch_size

    def encode_documents(self, texts: Sequence[str]) -> list[ChunkVectors]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            self._cache.update(zip(missing, self._encoders.encode_documents(missing), strict=True))
        return [apply_index_time_options(self._cache[t], self._settings) for t in texts]

    def encode_query(self, text: str, **kinds: bool) -> ChunkVectors:
        return query_muvera(self._encoders.encode_query(text, **kinds), self._settings)

    def raw(self, text: str) -> ChunkVectors:
        return self._cache[text]


def _layout(settings: Settings, encoders: Encoders) -> Layout:
    return Layout.from_settings(
        settings,
        model_ids=encoders.model_ids,
        dense_dim=encoders.dense_dim,
        colbert_dim=encoders.colbert_dim,
        muvera_dim=muvera_dim(settings, encoders.colbert_dim),
    )


@dataclass
class Outcome:
    """What one configuration stored and returned, after a close and reopen."""

    chunks: int
    points: int
    failed: list[str]
    top: dict[str, dict[str, list[tuple[str, str]]]] = field(
        default_factory=dict
    )  # mode → q → [(id, file)]
    stored_tokens: list[tuple[int, int]] = field(default_factory=list)  # (stored, raw) per hit


@pytest.fixture(scope="module")
def outcome(
    encoders: Encoders,
    offline_model_dirs: OfflineModels,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[str, str], Outcome]]:
    """`outcome(store_kind, option)`: ingest the demo corpus with that option, reopen, query."""
    cache: dict[str, ChunkVectors] = {}
    done: dict[tuple[str, str], Outcome] = {}
    clients: list[QdrantClient] = []

    def run(kind: str, option: str) -> Outcome:
        if (kind, option) in done:
            return done[kind, option]
        settings = make_settings(
            offline_model_dirs, tmp_path_factory.mktemp(option), **OPTIONS[option]
        )
        enc = _OptionEncoders(encoders, cache, settings)
        layout = _layout(settings, encoders)
        client = QdrantClient(":memory:") if kind == "server" else None
        if client is not None:
            clients.append(client)

        def open_() -> Store:
            if client is not None:
                return ServerStore(client, settings.collection, layout)
            return EdgeStore(settings.store_path, layout)

        store = open_()
        report = ingest([DEMO_DOCS], settings, store, enc, progress=False)
        chunks = sum(r.chunks for r in report.files)
        store.close()
        store = open_()  # what was stored survives a reopen with the same configuration
        result = Outcome(chunks, store.count(), [r.path for r in report.failed])
        retriever = MultiStageRetriever(store, enc, top_k=3)  # type: ignore[arg-type]
        for mode in _modes(option):
            result.top[mode] = {
                q: [
                    (p.id, Path(p.source).name, p.score)
                    for p in retriever.search(q, mode=mode).passages
                ]
                for q in QUESTIONS
            }
        for q in QUESTIONS:
            for p in retriever.search(q, mode="hybrid+colbert", with_vectors=True).passages:
                assert p.colbert is not None
                result.stored_tokens.append((len(p.colbert), len(enc.raw(p.text).colbert)))
        store.close()
        done[kind, option] = result
        return result

    yield run
    for client in clients:
        client.close()


class TestIndexTimeOptions:
    def test_off_leaves_vectors_untouched(self, encoders: Encoders, settings: Settings) -> None:
        [doc] = encoders.encode_documents(["Ada Lovelace wrote the first algorithm."])
        assert apply_index_time_options(doc, settings) is doc
        assert muvera_dim(settings, encoders.colbert_dim) is None
        query = encoders.encode_query("first algorithm")
        assert query_muvera(query, settings) is query and query.muvera is None

    def test_pooling_and_muvera(self, encoders: Encoders, settings: Settings) -> None:
        [doc] = encoders.encode_documents(
            ["Photosynthesis turns light, water and carbon dioxide into glucose and oxygen."]
        )
        on = settings.model_copy(update={"pool_factor": 2, "muvera": True})
        out = apply_index_time_options(doc, on)
        assert len(out.colbert) == pooled_count(len(doc.colbert), 2)
        assert out.muvera.shape == (muvera_dim(on, encoders.colbert_dim),) == (10_240,)
        # MUVERA encodes the full token set (its region means approximate MaxSim), not the pool.
        only_muvera = apply_index_time_options(doc, settings.model_copy(update={"muvera": True}))
        np.testing.assert_array_equal(out.muvera, only_muvera.muvera)
        np.testing.assert_array_equal(out.dense, doc.dense)
        assert out.sparse == doc.sparse
        query = query_muvera(encoders.encode_query("what does photosynthesis make?"), on)
        assert query.muvera.shape == (10_240,)
        assert float(query.muvera @ out.muvera) > 0

    def test_encoders_apply_the_configured_options(
        self, offline_model_dirs: OfflineModels, tmp_path: Path, encoders: Encoders
    ) -> None:
        """The real path: `Encoders(settings)` pools, adds MUVERA, and the layout records both."""
        text = "The Skerryvore Point Lighthouse stands on a granite reef four miles off the coast."
        settings = make_settings(offline_model_dirs, tmp_path, pool_factor=3, muvera=True)
        configured = Encoders(settings)
        [raw] = encoders.encode_documents([text])
        [doc] = configured.encode_documents([text])
        assert len(doc.colbert) == pooled_count(len(raw.colbert), 3)
        assert doc.muvera.shape == (configured.muvera_dim,) == (10_240,)
        layout = configured.layout(settings)
        assert (layout.pool_factor, layout.muvera_dim) == (3, 10_240)
        assert configured.encode_query("lighthouse reef").muvera.shape == (10_240,)
        assert configured.encode_query("lighthouse", colbert=False).muvera is None


@pytest.mark.slow
class TestRoundTrip:
    @pytest.mark.parametrize("option", list(OPTIONS))
    @pytest.mark.parametrize("kind", STORES)
    def test_ingest_store_reopen_query(self, outcome, kind: str, option: str) -> None:
        result = outcome(kind, option)
        assert result.failed == []
        assert result.chunks > len(QUESTIONS) and result.points == result.chunks
        for mode, answers in result.top.items():
            for question, expected in QUESTIONS.items():
                files = [f for _, f, _ in answers[question]]
                assert len(files) == 3, (mode, question)
                assert expected in files, (mode, question, files)

    @pytest.mark.parametrize("option", ["float32", "colbert-int8", "pool2", "pool3", "muvera"])
    @pytest.mark.parametrize("kind", STORES)
    def test_stored_token_vectors_are_the_pooled_ones(
        self, outcome, kind: str, option: str
    ) -> None:
        factor = int(OPTIONS[option].get("pool_factor", 1))  # type: ignore[call-overload]
        result = outcome(kind, option)
        assert result.stored_tokens
        for stored, raw in result.stored_tokens:
            assert stored == pooled_count(raw, factor)
            assert abs(stored - raw / factor) <= 1

    def test_muvera_prefetch_finds_what_exact_hybrid_finds(self, outcome) -> None:
        result = outcome("edge", "muvera")
        agree = sum(
            result.top["muvera+colbert"][q][0] == result.top["hybrid+colbert"][q][0]
            for q in QUESTIONS
        )
        assert agree >= len(QUESTIONS) - 1


@pytest.mark.slow
class TestQuantizedKeepsTheTopResults:
    @pytest.mark.parametrize("option", QUANTIZED)
    def test_same_top3_as_float32_on_the_embedded_store(self, outcome, option: str) -> None:
        baseline, quantized = outcome("edge", "float32"), outcome("edge", option)
        modes = ("dense", "hybrid") if option == "dense-int8" else ("hybrid+colbert",)
        for mode in modes:
            for question in QUESTIONS:
                _assert_same_ranking(
                    quantized.top[mode][question], baseline.top[mode][question], mode, question
                )

    def test_uint8_same_top3_on_the_server_adapter(self, outcome) -> None:
        # qdrant-client's local mode ignores storage datatypes and quantization, but the uint8
        # value mapping happens in our code for both adapters, so it is checked here too.
        baseline, quantized = outcome("server", "float32"), outcome("server", "colbert-uint8")
        for question in QUESTIONS:
            mode = "hybrid+colbert"
            _assert_same_ranking(
                quantized.top[mode][question], baseline.top[mode][question], mode, question
            )


def _assert_same_ranking(
    got: list[tuple[str, str, float]],
    expected: list[tuple[str, str, float]],
    mode: str,
    question: str,
) -> None:
    """Same ids in the same order. In RRF modes equal fused scores are common and engines order
    them arbitrarily, so there the fused scores must match rank by rank and only a group of
    tied points may be permuted (a group reaching the cut may hold any of its members)."""
    what = (mode, question, got, expected)
    if mode != "hybrid":  # the only fused mode compared here
        assert [i for i, *_ in got] == [i for i, *_ in expected], what
        return
    np.testing.assert_allclose([s for *_, s in got], [s for *_, s in expected], atol=1e-6)
    last = len(expected) - 1
    for score in {round(s, 6) for *_, s in expected}:
        ranks = [r for r, (*_, s) in enumerate(expected) if round(s, 6) == score]
        if last not in ranks:
            assert {got[r][0] for r in ranks} == {expected[r][0] for r in ranks}, what


MISMATCHES = {
    "colbert_datatype": {"colbert_datatype": "uint8"},
    "colbert_quantization": {"colbert_quantization": "int8"},
    "dense_quantization": {"dense_quantization": "int8"},
    "pool_factor": {"pool_factor": 2},
    "muvera_dim": {"muvera": True},
}


class TestIncompatibleConfiguration:
    @pytest.fixture
    def open_with(
        self, request: pytest.FixtureRequest, encoders: Encoders, settings: Settings
    ) -> Iterator[Callable[[Settings], Store]]:
        client = QdrantClient(":memory:")
        opened: list[Store] = []

        def open_(s: Settings) -> Store:
            layout = _layout(s, encoders)
            if request.param == "server":
                store: Store = ServerStore(client, s.collection, layout)
            else:
                store = EdgeStore(s.store_path, layout)
            opened.append(store)
            return store

        yield open_
        for store in opened:
            store.close()
        client.close()

    @pytest.mark.parametrize("open_with", STORES, indirect=True)
    @pytest.mark.parametrize("name", list(MISMATCHES))
    def test_error_names_the_difference_and_the_reindex_command(
        self, open_with, encoders: Encoders, settings: Settings, name: str
    ) -> None:
        store = open_with(settings)
        texts = ["Snake plants need water only every three weeks."]
        store.upsert(_chunks(texts), encoders.encode_documents(texts))
        store.close()
        other = settings.model_copy(update=MISMATCHES[name])
        with pytest.raises(LayoutMismatchError) as error:
            open_with(other)
        message = str(error.value)
        assert f"{name}: stored" in message
        assert "msrag reindex" in message
        assert message.count(": stored ") == 1  # only the field that differs
        # Refusing changed nothing: the original configuration still opens and finds the point.
        again = open_with(settings)
        assert again.count() == 1
        [hit] = again.query(QueryPlan("hybrid+colbert", encoders.encode_query("snake plants")))
        assert hit.text == texts[0]

    @pytest.mark.parametrize("open_with", STORES, indirect=True)
    @pytest.mark.parametrize("built_on_disk", [False, True])
    def test_a_store_keeps_its_placement(
        self, open_with, encoders: Encoders, settings: Settings, built_on_disk: bool
    ) -> None:
        # RAM or disk changes no stored value: a changed setting (or default) opens the store
        # as it was built, and says so in the layout it serves with (what `status` reports).
        built = settings.model_copy(update={"colbert_on_disk": built_on_disk})
        store = open_with(built)
        texts = ["Snake plants need water only every three weeks."]
        store.upsert(_chunks(texts), encoders.encode_documents(texts))
        store.close()
        again = open_with(built.model_copy(update={"colbert_on_disk": not built_on_disk}))
        assert again.layout.colbert_on_disk is built_on_disk
        [hit] = again.query(QueryPlan("hybrid+colbert", encoders.encode_query("snake plants")))
        assert hit.text == texts[0]

    @pytest.mark.parametrize("open_with", STORES, indirect=True)
    def test_every_difference_is_listed(self, open_with, settings: Settings) -> None:
        open_with(settings).close()
        other = settings.model_copy(update={"pool_factor": 3, "colbert_datatype": "float16"})
        with pytest.raises(LayoutMismatchError, match="colbert_datatype") as error:
            open_with(other)
        assert "pool_factor: stored 1 → configured 3" in str(error.value)


def _chunks(texts: list[str]) -> list[Chunk]:
    return [
        Chunk(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, t)),
            doc_id="plants",
            source="plants.txt",
            title="Plants",
            text=t,
            chunk_index=i,
            chunk_count=len(texts),
            char_start=0,
            char_end=len(t),
            file_hash="h",
        )
        for i, t in enumerate(texts)
    ]
