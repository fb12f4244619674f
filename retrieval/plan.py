"""How our vectors meet the collection, engine-neutral: the query plan as a tree of stages, and
the named vectors of a stored point.

A `QueryPlan` (mode, query vectors, limits, filter) becomes one `Stage` tree. The root is the
universal query; its `children` are its prefetches, recursively. Both store adapters walk the
same tree, so the embedded store and a Qdrant server run the same query, and the tree's
`describe()` shows a human exactly what ran. `stored_vectors` does the same for a point's
vectors, so both adapters store identical values.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from retrieval.errors import RetrievalError
from retrieval.modes import mode_spec
from retrieval.schema import BM25, COLBERT, DENSE, MUVERA, Layout
from retrieval.types import (
    PENDING,
    ChunkVectors,
    Filter,
    QueryPlan,
    QueryVector,
    SparseVector,
    Stage,
)


def render(plan: QueryPlan, layout: Layout) -> Stage:
    """The stage tree for `plan` on a collection with `layout`.

    >>> from retrieval.types import ChunkVectors
    >>> layout = Layout("d", "s", "c", dense_dim=2, colbert_dim=2)
    >>> q = ChunkVectors(dense=np.ones(2), sparse=SparseVector([1], [1.0]),
    ...                  colbert=np.ones((3, 2)))
    >>> render(QueryPlan("hybrid+colbert", q, top_k=5), layout).describe()
    'colbert(5)[dense(100, ef=256), bm25(100)]'
    >>> render(QueryPlan("dense", q, dense_exact=True), layout).describe()
    'dense(5, exact)'
    """
    if plan.top_k < 1 or plan.prefetch_limit < 1:
        raise ValueError(
            f"top_k ({plan.top_k}) and prefetch_limit ({plan.prefetch_limit}) must be at least 1."
        )
    spec = mode_spec(plan.mode)
    if spec.needs_muvera and layout.muvera_dim is None:
        raise RetrievalError(
            f"The {spec.name} mode needs MUVERA vectors, but this collection has none: "
            "re-index with MSRAG_MUVERA=true, or choose another mode."
        )
    return spec.tree(_Stages(plan, layout), plan.top_k, plan.prefetch_limit)


def visible(filter: Filter | None) -> Filter:
    """`filter`, and never a chunk of a document ingest is still writing (every stage applies
    it, so a half-stored document cannot reach a prefetch, a rerank or an answer)."""
    base = filter or Filter()
    if base.must_not.get("state") == PENDING:
        return base
    # replace(), not a new Filter: every other part of the filter (the caller's access groups
    # above all) must survive untouched
    return replace(base, must_not={**base.must_not, "state": PENDING})


class _Stages:
    """The stages of one plan's tree: every one carries the plan's filter, so a filter holds on
    every prefetch and on the final stage alike."""

    def __init__(self, plan: QueryPlan, layout: Layout) -> None:
        self.plan, self.layout, self.filter = plan, layout, visible(plan.filter)

    def _ef(self) -> int | None:
        return None if self.plan.dense_exact else self.plan.hnsw_ef

    def dense(self, limit: int) -> Stage:
        return Stage(
            limit=limit,
            using=DENSE,
            kind="dense",
            vector=_dense(self.plan, self.layout, DENSE),
            # Edge's HNSW recall at its default ef was poor (qdrant-engines.md: 0.52 on random
            # vectors; 0.93 at 50k replicated SciFact): a graph search gets a wide `hnsw_ef`.
            exact=self.plan.dense_exact,
            hnsw_ef=self._ef(),
            rescore=self.layout.dense_quantization != "none",
            filter=self.filter,
        )

    def bm25(self, limit: int) -> Stage:
        # The sparse index is exact by construction; IDF comes from the collection's modifier.
        return Stage(
            limit=limit, using=BM25, kind="sparse", vector=_sparse(self.plan), filter=self.filter
        )

    def muvera(self, limit: int) -> Stage:
        return Stage(
            limit=limit,
            using=MUVERA,
            kind="dense",
            vector=_dense(self.plan, self.layout, MUVERA),
            exact=self.plan.dense_exact,
            hnsw_ef=self._ef(),
            filter=self.filter,
        )

    def colbert(self, limit: int, children: tuple[Stage, ...]) -> Stage:
        return Stage(
            limit=limit,
            using=COLBERT,
            kind="multivector",
            vector=_multivector(self.plan, self.layout),
            children=children,
            rescore=self.layout.colbert_quantization != "none",
            filter=self.filter,
        )

    def rrf(self, limit: int, children: tuple[Stage, ...]) -> Stage:
        return Stage(limit=limit, rrf_k=self.plan.rrf_k, children=children, filter=self.filter)

    def dbsf(self, limit: int, children: tuple[Stage, ...]) -> Stage:
        return Stage(limit=limit, dbsf=True, children=children, filter=self.filter)


def _dense(plan: QueryPlan, layout: Layout, name: str) -> list[float]:
    vector = getattr(plan.query, name)
    if vector is None:
        raise ValueError(f"Mode {plan.mode!r} needs a {name} query vector, but it is None.")
    dim = layout.dense_dim if name == DENSE else layout.muvera_dim
    return _flat(vector, dim or 0, f"{name} query")


def _sparse(plan: QueryPlan) -> SparseVector:
    if plan.query.sparse is None:
        raise ValueError(f"Mode {plan.mode!r} needs a sparse (bm25) query vector, but it is None.")
    sparse = plan.query.sparse
    return SparseVector([int(i) for i in sparse.indices], [float(v) for v in sparse.values])


def _multivector(plan: QueryPlan, layout: Layout) -> list[list[float]]:
    if plan.query.colbert is None:
        raise ValueError(f"Mode {plan.mode!r} needs a colbert query vector, but it is None.")
    return multivector_values(plan.query.colbert, layout, what="The colbert query")


def multivector_values(
    tokens: np.ndarray, layout: Layout, what: str = "A colbert vector"
) -> list[list[float]]:
    """Token vectors as the collection stores them (and so as a query must send them).

    With `colbert_datatype="uint8"` Qdrant casts stored AND query values to bytes, so cosine
    values in [-1, 1] would all become 0. We map both sides affinely onto 0..255; MaxSim is then
    the cosine of the mapped vectors: an approximation of the float ranking, for the benchmark
    to weigh against its memory saving.
    """
    array = np.asarray(tokens, dtype=np.float32)
    if array.ndim != 2 or len(array) == 0 or array.shape[1] != layout.colbert_dim:
        raise ValueError(
            f"{what} must be a non-empty [tokens, {layout.colbert_dim}] array, got shape "
            f"{array.shape}."
        )
    if layout.colbert_datatype == "uint8":
        norms = np.linalg.norm(array, axis=1, keepdims=True)
        unit = array / np.where(norms == 0, 1, norms)
        array = np.rint((np.clip(unit, -1, 1) + 1) * 127.5)
    values: list[list[float]] = array.tolist()
    return values


def stored_form(tokens: np.ndarray, layout: Layout) -> np.ndarray:
    """Token vectors as the engine compares them: in the stored value space (see
    `multivector_values`), each row L2-normalised (cosine). Their dot products are the engine's
    MaxSim terms, for scoring vectors outside the engine (e.g. read back with a result)."""
    return unit_rows(np.asarray(multivector_values(tokens, layout), dtype=np.float32))


def unit_rows(array: np.ndarray) -> np.ndarray:
    """Each row L2-normalised, as Qdrant's cosine distance does."""
    rows: np.ndarray = np.asarray(array, dtype=np.float32)
    norms: np.ndarray = np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    unit: np.ndarray = rows / norms
    return unit


def stored_vectors(vectors: ChunkVectors, layout: Layout) -> dict[str, QueryVector]:
    """The named vectors of one point for `layout`, validated (a clear error beats an engine's).

    >>> layout = Layout("d", "s", "c", dense_dim=2, colbert_dim=2)
    >>> v = ChunkVectors(dense=np.ones(2), sparse=SparseVector([3], [1.0]),
    ...                  colbert=np.ones((1, 2)))
    >>> sorted(stored_vectors(v, layout))
    ['bm25', 'colbert', 'dense']
    """
    missing = [
        name
        for name in (DENSE, BM25, COLBERT) + ((MUVERA,) if layout.muvera_dim else ())
        if getattr(vectors, "sparse" if name == BM25 else name) is None
    ]
    if missing:
        raise ValueError(f"Every point needs {', '.join(missing)} vectors for this collection.")
    assert vectors.dense is not None and vectors.sparse is not None and vectors.colbert is not None
    out: dict[str, QueryVector] = {
        DENSE: _flat(vectors.dense, layout.dense_dim, DENSE),
        BM25: SparseVector(
            [int(i) for i in vectors.sparse.indices], [float(v) for v in vectors.sparse.values]
        ),
        COLBERT: multivector_values(vectors.colbert, layout),
    }
    if layout.muvera_dim:
        assert vectors.muvera is not None
        out[MUVERA] = _flat(vectors.muvera, layout.muvera_dim, MUVERA)
    return out


def _flat(vector: np.ndarray, dim: int, name: str) -> list[float]:
    array = np.asarray(vector, dtype=np.float32).reshape(-1)
    if array.shape[0] != dim:
        raise ValueError(
            f"The {name} vector has {array.shape[0]} dimensions; the collection expects {dim}."
        )
    return array.tolist()
