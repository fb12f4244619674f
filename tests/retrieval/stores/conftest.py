"""A deterministic synthetic corpus and a numpy reference for the store tests.

These tests check the stores (layout, writes, the rendered query), not retrieval quality, so
random vectors are fine: continuous values make exact ties practically impossible, which lets
the tests compare rankings and scores exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pytest

from retrieval.access import stored_groups, visible
from retrieval.errors import RetrievalError
from retrieval.modes import MODES
from retrieval.schema import Layout
from retrieval.stores import Store
from retrieval.types import Chunk, ChunkVectors, Filter, QueryPlan, SparseVector

DENSE_DIM = 384
COLBERT_DIM = 32
VOCAB = 5_000
SOURCES = ("docs/alpha.md", "docs/beta.pdf", "docs/gamma.html", "docs/delta.txt")


def make_layout(**overrides: object) -> Layout:
    values: dict[str, object] = {
        "dense_model": "synthetic-dense",
        "sparse_model": "synthetic-bm25",
        "colbert_model": "synthetic-colbert",
        "dense_dim": DENSE_DIM,
        "colbert_dim": COLBERT_DIM,
    }
    values.update(overrides)
    return Layout(**values)  # type: ignore[arg-type]


@dataclass
class Corpus:
    chunks: list[Chunk]
    vectors: list[ChunkVectors]
    queries: list[ChunkVectors]

    @property
    def ids(self) -> np.ndarray:
        return np.array([c.id for c in self.chunks])

    def mask(self, filter: Filter | None) -> np.ndarray:
        """Which points a filter keeps (`source` filters and access groups in these tests)."""
        keep = np.ones(len(self.chunks), dtype=bool)
        if not filter:
            return keep
        if filter.groups is not None:  # the access rule, as retrieval/access.py states it
            keep &= np.array([visible(stored_groups(c.groups), filter.groups) for c in self.chunks])
        for key, value in filter.must.items():
            values = value if isinstance(value, list) else [value]
            keep &= np.array([getattr(c, key) in values for c in self.chunks])
        for key, value in filter.must_not.items():
            values = value if isinstance(value, list) else [value]
            keep &= np.array([getattr(c, key) not in values for c in self.chunks])
        return keep


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def make_corpus(
    n: int = 300, n_queries: int = 12, seed: int = 7, muvera_dim: int | None = 64
) -> Corpus:
    rng = np.random.default_rng(seed)
    # Zipf-like term popularity, so document frequencies (and IDF) vary a lot between terms.
    popularity = 1.0 / np.arange(1, VOCAB + 1) ** 0.8
    popularity /= popularity.sum()
    chunks, vectors = [], []
    for i in range(n):
        source = SOURCES[i % len(SOURCES)]
        terms = np.unique(rng.choice(VOCAB, size=30, p=popularity))
        chunks.append(
            Chunk(
                id=str(uuid.UUID(int=int(rng.integers(2**63)) * 2**64 + i + 1)),
                doc_id=f"doc-{i % len(SOURCES)}",
                source=source,
                title=source.rsplit("/", 1)[-1],
                text=f"synthetic passage {i}",
                chunk_index=i // len(SOURCES),
                chunk_count=n // len(SOURCES),
                char_start=10 * i,
                char_end=10 * i + 9,
                file_hash=f"hash-{i % len(SOURCES)}",
                page=i % 3 or None,
            )
        )
        vectors.append(
            ChunkVectors(
                dense=rng.normal(size=DENSE_DIM).astype(np.float32),
                sparse=SparseVector(
                    terms.tolist(), rng.uniform(0.3, 2.5, size=len(terms)).round(4).tolist()
                ),
                colbert=rng.normal(size=(int(rng.integers(10, 41)), COLBERT_DIM)).astype(
                    np.float32
                ),
                muvera=rng.normal(size=muvera_dim).astype(np.float32) if muvera_dim else None,
            )
        )
    queries = []
    for _ in range(n_queries):
        # Each query is a noisy view of one document, so top results are not all noise.
        target = vectors[int(rng.integers(n))]
        idx = rng.choice(target.sparse.indices, size=5, replace=False).tolist()
        extra = rng.choice(VOCAB, size=3, p=popularity).tolist()
        terms = sorted(set(idx) | set(extra))
        tokens = target.colbert[rng.choice(len(target.colbert), size=6, replace=False)]
        queries.append(
            ChunkVectors(
                dense=(target.dense + rng.normal(scale=2.0, size=DENSE_DIM)).astype(np.float32),
                sparse=SparseVector(terms, [1.0] * len(terms)),
                colbert=(tokens + rng.normal(scale=0.8, size=tokens.shape)).astype(np.float32),
                muvera=(target.muvera + rng.normal(scale=1.0, size=muvera_dim)).astype(np.float32)
                if muvera_dim
                else None,
            )
        )
    return Corpus(chunks, vectors, queries)


class Reference:
    """Exact numpy scores for the corpus: what the engines must reproduce."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self.dense = _unit(np.stack([v.dense for v in corpus.vectors]).astype(np.float64))
        self.colbert = [_unit(v.colbert.astype(np.float64)) for v in corpus.vectors]
        n = len(corpus.vectors)
        df = np.zeros(VOCAB)
        self.sparse = np.zeros((n, VOCAB))
        for i, v in enumerate(corpus.vectors):
            self.sparse[i, v.sparse.indices] = v.sparse.values
            df[v.sparse.indices] += 1
        # Qdrant's IDF modifier (BM25's, always positive): ln((N - df + 0.5) / (df + 0.5) + 1).
        self.idf = np.log((n - df + 0.5) / (df + 0.5) + 1)

    def dense_scores(self, q: ChunkVectors) -> np.ndarray:
        return self.dense @ _unit(q.dense.astype(np.float64))

    def bm25_scores(self, q: ChunkVectors) -> np.ndarray:
        query = np.zeros(VOCAB)
        query[q.sparse.indices] = q.sparse.values
        return self.sparse @ (query * self.idf)

    def maxsim_scores(self, q: ChunkVectors) -> np.ndarray:
        tokens = _unit(q.colbert.astype(np.float64))
        return np.array([(tokens @ d.T).max(axis=1).sum() for d in self.colbert])

    def muvera_scores(self, q: ChunkVectors) -> np.ndarray:
        docs = _unit(np.stack([v.muvera for v in self.corpus.vectors]).astype(np.float64))
        return docs @ _unit(q.muvera.astype(np.float64))

    def top(
        self, scores: np.ndarray, k: int, keep: np.ndarray, among: np.ndarray | None = None
    ) -> list[tuple[str, float]]:
        """The best `k` (id, score) among the points kept (and in `among`), best first."""
        allowed = keep & among if among is not None else keep
        idx = np.flatnonzero(allowed)
        order = idx[np.argsort(-scores[idx], kind="stable")][:k]
        return [(self.corpus.chunks[i].id, float(scores[i])) for i in order]

    def expected(self, plan: QueryPlan) -> tuple[list[tuple[str, float]], dict[str, float]]:
        """The reference top-k (id, score) of `plan`, and the score of every candidate.

        For RRF modes the order among exactly equal fused scores is arbitrary (the engines break
        such ties by internal order), so compare those with `assert_fused_matches`.
        """
        keep = self.corpus.mask(plan.filter)
        q, p, k = plan.query, plan.prefetch_limit, plan.top_k
        matched = None
        if q.sparse is not None:
            bm25 = self.bm25_scores(q)
            matched = bm25 > 0  # the sparse index only finds points sharing a query term

        def ids(ranking: list[tuple[str, float]]) -> np.ndarray:
            return np.isin(self.corpus.ids, [i for i, _ in ranking])

        def rrf(rankings: list[list[tuple[str, float]]]) -> list[tuple[str, float]]:
            fused: dict[str, float] = {}
            for ranking in rankings:
                for rank, (i, _) in enumerate(ranking):  # Qdrant: 1 / (k + 0-based rank)
                    fused[i] = fused.get(i, 0.0) + 1.0 / (plan.rrf_k + rank)
            return sorted(fused.items(), key=lambda item: -item[1])

        def dbsf(rankings: list[list[tuple[str, float]]]) -> list[tuple[str, float]]:
            # Qdrant's distribution-based score fusion: each ranking's scores mapped from
            # mean ± 3 sample standard deviations onto 0..1, then summed per point.
            fused: dict[str, float] = {}
            for ranking in rankings:
                scores = np.array([s for _, s in ranking])
                if len(scores) == 0:
                    continue
                std = scores.std(ddof=1) if len(scores) > 1 else 0.0
                low, high = scores.mean() - 3 * std, scores.mean() + 3 * std
                for i, s in ranking:
                    norm = 0.5 if std == 0 else (s - low) / (high - low)
                    fused[i] = fused.get(i, 0.0) + norm
            return sorted(fused.items(), key=lambda item: -item[1])

        def maxsim(candidates: list[tuple[str, float]], limit: int) -> list[tuple[str, float]]:
            return self.top(self.maxsim_scores(q), limit, keep, ids(candidates))

        mode = plan.mode
        dense = self.top(self.dense_scores(q), p, keep) if q.dense is not None else []
        sparse = self.top(bm25, p, keep, matched) if q.sparse is not None else []
        if mode == "dense":
            full = self.top(self.dense_scores(q), len(keep), keep)
        elif mode == "bm25":
            full = self.top(bm25, len(keep), keep, matched)
        elif mode == "hybrid":
            full = rrf([dense, sparse])
        elif mode == "dense+colbert":
            full = maxsim(dense, p)
        elif mode == "bm25+colbert":
            full = maxsim(sparse, p)
        elif mode == "hybrid+colbert":
            full = maxsim(dense + sparse, 2 * p)
        elif mode == "hybrid+colbert+rrf":
            full = rrf([maxsim(dense + sparse, p), sparse, dense])
        elif mode == "hybrid+colbert+dbsf":
            full = dbsf([maxsim(dense + sparse, p), sparse, dense])
        elif mode == "muvera+colbert":
            full = maxsim(self.top(self.muvera_scores(q), p, keep), p)
        else:
            raise AssertionError(f"no numpy reference for {mode}")
        return full[:k], dict(full)


def assert_matches(passages: list, expected: list[tuple[str, float]], tol: float = 1e-4) -> None:
    """Same ids in the same order, scores within `tol`."""
    assert [p.id for p in passages] == [i for i, _ in expected]
    np.testing.assert_allclose([p.score for p in passages], [s for _, s in expected], atol=tol)


def assert_fused_matches(
    passages: list,
    expected: list[tuple[str, float]],
    scores: dict[str, float],
    tol: float = 1e-4,
) -> None:
    """For RRF: the same score at every rank, and every id returned has that reference score.

    Only points with exactly equal fused scores may change places (or trade the last places).
    """
    np.testing.assert_allclose([p.score for p in passages], [s for _, s in expected], atol=tol)
    for passage in passages:
        assert passage.id in scores, f"{passage.id} is not a candidate of any prefetch"
        assert abs(scores[passage.id] - passage.score) <= tol


FUSED_MODES = ("hybrid", "hybrid+colbert+rrf", "hybrid+colbert+dbsf")


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return make_corpus()


@pytest.fixture(scope="session")
def reference(corpus: Corpus) -> Reference:
    return Reference(corpus)


@pytest.fixture(scope="session")
def layout() -> Layout:
    return make_layout(muvera_dim=64)


@pytest.fixture(scope="session")
def check_matches() -> Callable[..., None]:
    """Check passages against `Reference.expected(plan)`, whatever the mode."""

    def check(passages: list, plan: QueryPlan, expected: tuple, tol: float = 1e-4) -> None:
        top, scores = expected
        assert len(passages) == len(top)
        if plan.mode in FUSED_MODES:
            assert_fused_matches(passages, top, scores, tol)
        else:
            assert_matches(passages, top, tol)

    return check


@pytest.fixture(scope="session")
def layout_factory() -> Callable[..., Layout]:
    return make_layout


@pytest.fixture(scope="session")
def corpus_factory() -> Callable[..., Corpus]:
    return make_corpus


FILTERS = {
    "unfiltered": None,
    "two-sources": Filter(must={"source": ["docs/alpha.md", "docs/gamma.html"]}),
    "not-beta": Filter(must_not={"source": "docs/beta.pdf"}),
}


class StoreContract:
    """Behaviour both adapters share. Subclasses provide the fixtures:

    `store` (module-wide, holds `corpus`, read-only), `empty_store` (fresh, for writes), and
    `no_muvera_store` (a fresh store whose layout has no MUVERA vector).
    """

    def test_count(self, store: Store, corpus: Corpus) -> None:
        assert store.count() == len(corpus.chunks)
        assert store.count(Filter(must={"source": "docs/alpha.md"})) == 75
        assert store.count(FILTERS["two-sources"]) == 150
        assert store.count(FILTERS["not-beta"]) == 225

    def test_scroll_payloads_returns_every_point_with_the_fields_asked(
        self, store: Store, corpus: Corpus
    ) -> None:
        rows = dict(store.scroll_payloads(["source", "file_hash"]))
        assert set(rows) == {c.id for c in corpus.chunks}
        by_id = {c.id: c for c in corpus.chunks}
        for point_id, payload in rows.items():
            assert payload == {
                "source": by_id[point_id].source,
                "file_hash": by_id[point_id].file_hash,
            }

    def test_scroll_payloads_without_fields_lists_ids(self, store: Store, corpus: Corpus) -> None:
        rows = list(store.scroll_payloads([]))
        assert sorted(i for i, _ in rows) == sorted(c.id for c in corpus.chunks)
        assert all(payload == {} for _, payload in rows)

    def test_scroll_payloads_with_filter(self, store: Store) -> None:
        rows = list(store.scroll_payloads(["source"], Filter(must={"source": "docs/beta.pdf"})))
        assert len(rows) == 75
        assert {payload["source"] for _, payload in rows} == {"docs/beta.pdf"}

    @pytest.mark.parametrize("filter_name", list(FILTERS))
    @pytest.mark.parametrize("mode", MODES)
    def test_query_matches_numpy_reference(
        self,
        store: Store,
        corpus: Corpus,
        reference: Reference,
        check_matches: Callable[..., None],
        mode: str,
        filter_name: str,
    ) -> None:
        for query in corpus.queries:
            plan = QueryPlan(
                mode,
                query,
                top_k=10,
                prefetch_limit=30,
                rrf_k=2,
                filter=FILTERS[filter_name],  # type: ignore[arg-type]
            )
            passages = store.query(plan)
            check_matches(passages, plan, reference.expected(plan))
            keep = corpus.mask(plan.filter)
            allowed = {c.source for c, k in zip(corpus.chunks, keep, strict=True) if k}
            assert {p.source for p in passages} <= allowed

    def test_passages_carry_rank_mode_and_payload(self, store: Store, corpus: Corpus) -> None:
        passages = store.query(QueryPlan("hybrid+colbert", corpus.queries[0], top_k=7))
        by_id = {c.id: c for c in corpus.chunks}
        assert [p.rank for p in passages] == list(range(1, 8))
        for p in passages:
            chunk = by_id[p.id]
            assert str(uuid.UUID(p.id)) == p.id
            assert type(p.score) is float
            assert p.mode == "hybrid+colbert"
            assert (p.text, p.source, p.doc_id, p.title) == (
                chunk.text,
                chunk.source,
                chunk.doc_id,
                chunk.title,
            )
            assert (p.chunk_index, p.char_start, p.char_end, p.page) == (
                chunk.chunk_index,
                chunk.char_start,
                chunk.char_end,
                chunk.page,
            )
            assert p.colbert is None

    def test_with_vectors_returns_the_stored_token_vectors(
        self, store: Store, corpus: Corpus
    ) -> None:
        plan = QueryPlan("bm25+colbert", corpus.queries[1], top_k=4, with_vectors=True)
        by_id = {c.id: v for c, v in zip(corpus.chunks, corpus.vectors, strict=True)}
        for p in store.query(plan):
            # Cosine collections store unit vectors.
            np.testing.assert_allclose(p.colbert, _unit(by_id[p.id].colbert), atol=1e-6)

    def test_upsert_replaces_a_point_with_the_same_id(
        self, empty_store: Store, corpus: Corpus
    ) -> None:
        empty_store.upsert(corpus.chunks[:10], corpus.vectors[:10])
        changed = replace(corpus.chunks[3], text="replaced text")
        empty_store.upsert([changed], [corpus.vectors[3]])
        assert empty_store.count() == 10
        plan = QueryPlan("dense", corpus.vectors[3], top_k=1)
        [top] = empty_store.query(plan)
        assert (top.id, top.text) == (changed.id, "replaced text")
        assert top.score == pytest.approx(1.0, abs=1e-5)

    def test_delete_by_source(self, empty_store: Store, corpus: Corpus) -> None:
        empty_store.upsert(corpus.chunks, corpus.vectors)
        empty_store.delete(Filter(must={"source": "docs/alpha.md"}))
        assert empty_store.count() == 225
        assert empty_store.count(Filter(must={"source": "docs/alpha.md"})) == 0
        assert "docs/alpha.md" not in {
            p["source"] for _, p in empty_store.scroll_payloads(["source"])
        }
        for mode in MODES:
            passages = empty_store.query(QueryPlan(mode, corpus.queries[2], top_k=20))  # type: ignore[arg-type]
            assert passages and "docs/alpha.md" not in {p.source for p in passages}

    def test_delete_needs_a_filter(self, empty_store: Store) -> None:
        with pytest.raises(ValueError, match="non-empty filter"):
            empty_store.delete(Filter())

    def test_upsert_rejects_inconsistent_input(self, empty_store: Store, corpus: Corpus) -> None:
        with pytest.raises(ValueError, match="2 chunks but 1 vector"):
            empty_store.upsert(corpus.chunks[:2], corpus.vectors[:1])
        no_colbert = replace(corpus.vectors[0], colbert=None)
        with pytest.raises(ValueError, match="colbert"):
            empty_store.upsert(corpus.chunks[:1], [no_colbert])
        assert empty_store.count() == 0

    def test_muvera_mode_needs_muvera_vectors(self, no_muvera_store: Store, corpus: Corpus) -> None:
        no_muvera_store.upsert(corpus.chunks[:5], corpus.vectors[:5])
        with pytest.raises(RetrievalError, match="MUVERA"):
            no_muvera_store.query(QueryPlan("muvera+colbert", corpus.queries[0]))
