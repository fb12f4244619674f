"""The query plan renders every mode into the stage tree both adapters run."""

from __future__ import annotations

import re

import numpy as np
import pytest

from retrieval.errors import RetrievalError
from retrieval.modes import MODES
from retrieval.plan import multivector_values, render, stored_vectors
from retrieval.schema import Layout
from retrieval.types import ChunkVectors, Filter, QueryPlan, SparseVector, Stage

LAYOUT = Layout("d", "s", "c", dense_dim=4, colbert_dim=3, muvera_dim=6)
QUERY = ChunkVectors(
    dense=np.arange(4, dtype=np.float32),
    sparse=SparseVector([7, 2], [1.0, 1.0]),
    colbert=np.ones((2, 3), dtype=np.float32),
    muvera=np.ones(6, dtype=np.float32),
)


def plan(mode: str, **kwargs: object) -> QueryPlan:
    # exact dense search, so the trees below read the same whatever the graph's `hnsw_ef`
    values: dict[str, object] = {"top_k": 5, "prefetch_limit": 40, "rrf_k": 3, "dense_exact": True}
    values.update(kwargs)
    return QueryPlan(mode, QUERY, **values)  # type: ignore[arg-type]


def walk(stage: Stage) -> list[Stage]:
    return [stage] + [s for child in stage.children for s in walk(child)]


class TestModes:
    @pytest.mark.parametrize(
        ("mode", "tree"),
        [
            ("dense", "dense(5, exact)"),
            ("bm25", "bm25(5)"),
            ("hybrid", "rrf(k=3, 5)[dense(40, exact), bm25(40)]"),
            ("dense+colbert", "colbert(5)[dense(40, exact)]"),
            ("bm25+colbert", "colbert(5)[bm25(40)]"),
            ("hybrid+colbert", "colbert(5)[dense(40, exact), bm25(40)]"),
            (
                "hybrid+colbert+rrf",
                "rrf(k=3, 5)[colbert(40)[dense(40, exact), bm25(40)], bm25(40), dense(40, exact)]",
            ),
            (
                "hybrid+colbert+dbsf",
                "dbsf(5)[colbert(40)[dense(40, exact), bm25(40)], bm25(40), dense(40, exact)]",
            ),
            ("muvera+colbert", "colbert(5)[muvera(40, exact)]"),
        ],
    )
    def test_tree(self, mode: str, tree: str) -> None:
        assert render(plan(mode), LAYOUT).describe() == tree

    def test_every_mode_is_covered(self) -> None:
        for mode in MODES:
            assert render(plan(mode), LAYOUT).limit == 5

    def test_vectors_and_kinds(self) -> None:
        stages = {s.using: s for s in walk(render(plan("hybrid+colbert+rrf"), LAYOUT))}
        assert stages["dense"].kind == "dense"
        assert stages["dense"].vector == [0.0, 1.0, 2.0, 3.0]
        assert stages["bm25"].kind == "sparse"
        assert stages["bm25"].vector == SparseVector([7, 2], [1.0, 1.0])
        assert stages["colbert"].kind == "multivector"
        assert stages["colbert"].vector == [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
        assert stages[None].is_fusion and stages[None].rrf_k == 3

    def test_filter_reaches_every_stage(self) -> None:
        flt = Filter(must={"source": ["a.md", "b.md"]}, must_not={"doc_id": "x"})
        # ...together with the exclusion of documents ingest is still writing.
        expected = Filter(must=flt.must, must_not={"doc_id": "x", "state": "pending"})
        for mode in MODES:
            stages = walk(render(plan(mode, filter=flt), LAYOUT))
            assert all(s.filter == expected for s in stages), mode

    def test_without_a_filter_every_stage_still_hides_pending_documents(self) -> None:
        for flt in (None, Filter()):
            stages = walk(render(plan("hybrid", filter=flt), LAYOUT))
            assert all(s.filter == Filter(must_not={"state": "pending"}) for s in stages)

    def test_the_default_plan_lets_qdrant_choose_with_the_settings_ef(self) -> None:
        from msrag.settings import Settings

        tree = render(QueryPlan("dense", QUERY), LAYOUT)  # type: ignore[arg-type]
        assert tree.describe() == f"dense({Settings().top_k}, ef={Settings().hnsw_ef})"

    def test_quantized_vectors_are_rescored(self) -> None:
        layout = Layout(
            "d",
            "s",
            "c",
            dense_dim=4,
            colbert_dim=3,
            colbert_quantization="int8",
            dense_quantization="int8",
        )
        tree = render(plan("dense+colbert"), layout)
        assert tree.describe() == "colbert(5, rescore)[dense(40, exact, rescore)]"


class TestInvalid:
    @pytest.mark.parametrize(
        ("mode", "missing", "name"),
        [
            ("dense", "dense", "dense"),
            ("hybrid", "sparse", "sparse"),
            ("bm25+colbert", "colbert", "colbert"),
            ("muvera+colbert", "muvera", "muvera"),
        ],
    )
    def test_missing_query_vector_is_named(self, mode: str, missing: str, name: str) -> None:
        query = ChunkVectors(
            **{
                k: getattr(QUERY, k)
                for k in ("dense", "sparse", "colbert", "muvera")
                if k != missing
            }
        )
        with pytest.raises(ValueError, match=re.escape(mode) + f".*{name}"):
            render(QueryPlan(mode, query), LAYOUT)  # type: ignore[arg-type]

    def test_muvera_needs_a_muvera_layout(self) -> None:
        layout = Layout("d", "s", "c", dense_dim=4, colbert_dim=3)
        with pytest.raises(RetrievalError, match="MSRAG_MUVERA"):
            render(plan("muvera+colbert"), layout)

    def test_wrong_query_dimension(self) -> None:
        query = ChunkVectors(dense=np.ones(5))
        with pytest.raises(ValueError, match="5 dimensions.*expects 4"):
            render(QueryPlan("dense", query), LAYOUT)

    @pytest.mark.parametrize("field", ["top_k", "prefetch_limit"])
    def test_limits_must_be_positive(self, field: str) -> None:
        with pytest.raises(ValueError, match=field):
            render(plan("dense", **{field: 0}), LAYOUT)

    def test_unknown_mode(self) -> None:
        with pytest.raises(ValueError, match="Unknown retrieval mode 'magic'"):
            render(plan("magic"), LAYOUT)


class TestStoredVectors:
    def test_all_named_vectors(self) -> None:
        out = stored_vectors(QUERY, LAYOUT)
        assert sorted(out) == ["bm25", "colbert", "dense", "muvera"]
        assert out["dense"] == [0.0, 1.0, 2.0, 3.0]

    def test_muvera_only_when_the_layout_has_it(self) -> None:
        layout = Layout("d", "s", "c", dense_dim=4, colbert_dim=3)
        assert "muvera" not in stored_vectors(QUERY, layout)

    def test_missing_vectors_are_named(self) -> None:
        with pytest.raises(ValueError, match="bm25, colbert"):
            stored_vectors(ChunkVectors(dense=np.ones(4), muvera=np.ones(6)), LAYOUT)

    def test_wrong_colbert_dimension(self) -> None:
        bad = ChunkVectors(QUERY.dense, QUERY.sparse, np.ones((2, 5)), QUERY.muvera)
        with pytest.raises(ValueError, match=r"\[tokens, 3\]"):
            stored_vectors(bad, LAYOUT)

    def test_uint8_maps_unit_vectors_onto_bytes(self) -> None:
        layout = Layout("d", "s", "c", dense_dim=4, colbert_dim=2, colbert_datatype="uint8")
        values = multivector_values(np.array([[3.0, -4.0], [0.0, 2.0]]), layout)
        # unit vectors (0.6, -0.8) and (0, 1) → (x + 1) * 127.5, rounded
        assert values == [[204.0, 25.0], [128.0, 255.0]]  # -0.8 is -0.80000001 in float32

    def test_float_layouts_keep_values(self) -> None:
        tokens = np.array([[3.0, -4.0]])
        layout = Layout("d", "s", "c", dense_dim=4, colbert_dim=2, colbert_datatype="float16")
        assert multivector_values(tokens, layout) == [[3.0, -4.0]]
