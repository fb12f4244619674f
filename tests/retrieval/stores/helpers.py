"""Helpers that the store tests share: a user's `msrag` environment, the congruence check."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np

from retrieval.ingest.offline import OfflineModels
from retrieval.stores import Store
from retrieval.types import Passage, QueryPlan
from tests.conftest import shipped_layout
from tests.retrieval.stores.conftest import FUSED_MODES


def cli_env(models: OfflineModels, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a user's `msrag` process: offline models, this data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MSRAG_", "OPENAI_", "QDRANT"))}
    env.update({f"MSRAG_{k.upper()}": v for k, v in models.settings_values().items()})
    env.update({f"MSRAG_{k.upper()}": str(v) for k, v in shipped_layout().items()})
    env.update(MSRAG_DATA_DIR=str(data_dir), OPENBLAS_NUM_THREADS="1", **extra)
    return env


def namespaces_work() -> bool:
    """Whether user and mount namespaces are available (`unshare -rm`, no root needed)."""
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    return probe.returncode == 0


# --- congruence: the same results on two engines (see test_congruence.py) ----------------------

TOL = 1e-4


def assert_same_ranking(a: list[Passage], b: list[Passage], deeper: dict[str, float]) -> None:
    """`a` ranks like `b`: the same score at every rank, and every id in `a` has that score in
    `b`'s deeper results (`deeper`: id → score). So ids can only differ between equal scores."""
    assert 0 < len(a) == len(b)
    np.testing.assert_allclose([p.score for p in a], [p.score for p in b], atol=TOL)
    for passage in a:
        assert passage.id in deeper, f"{passage.id} ({passage.score}) missing on the other side"
        assert abs(deeper[passage.id] - passage.score) <= TOL


def rrf(rankings: list[list[Passage]], k: int) -> dict[str, float]:
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, passage in enumerate(ranking):  # Qdrant: 1 / (k + 0-based rank)
            fused[passage.id] = fused.get(passage.id, 0.0) + 1.0 / (k + rank)
    return fused


def dbsf(rankings: list[list[Passage]]) -> dict[str, float]:
    """Qdrant's distribution-based score fusion: each ranking's scores mapped from mean ± 3
    sample standard deviations onto 0..1, summed per point."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        if not ranking:
            continue
        scores = np.array([p.score for p in ranking], dtype=np.float64)
        std = scores.std(ddof=1) if len(scores) > 1 else 0.0
        low, high = scores.mean() - 3 * std, scores.mean() + 3 * std
        for passage in ranking:
            norm = 0.5 if std == 0 else (passage.score - low) / (high - low)
            fused[passage.id] = fused.get(passage.id, 0.0) + norm
    return fused


def components(plan: QueryPlan) -> list[QueryPlan]:
    """The rankings a fused mode fuses, each as a plan of its own (see retrieval/modes.py)."""
    p = plan.prefetch_limit
    names = {
        "hybrid": ("dense", "bm25"),
        "hybrid+colbert+rrf": ("hybrid+colbert", "bm25", "dense"),
        "hybrid+colbert+dbsf": ("hybrid+colbert", "bm25", "dense"),
    }
    return [replace(plan, mode=name, top_k=p) for name in names[plan.mode]]


def fuse(plan: QueryPlan, rankings: list[list[Passage]]) -> dict[str, float]:
    return dbsf(rankings) if plan.mode.endswith("+dbsf") else rrf(rankings, plan.rrf_k)


def assert_congruent(plan: QueryPlan, edge: Store, server: Store) -> None:
    deep = replace(plan, top_k=3 * plan.prefetch_limit)
    a, b = edge.query(plan), server.query(plan)
    if plan.mode not in FUSED_MODES:
        assert_same_ranking(a, b, {p.id: p.score for p in server.query(deep)})
        assert_same_ranking(b, a, {p.id: p.score for p in edge.query(deep)})
        return
    # A fusion turns ranks (RRF) or the set of candidates (DBSF's mean and deviation) into
    # scores, so a tie *inside* a fused ranking (two chunks with the same BM25 score, common
    # with real text) that the engines order differently changes fused scores, not just the
    # order. Hence: (1) the fused rankings agree between the engines up to exact ties, and
    # (2) each engine's result is exactly the fusion of its own rankings.
    for part in components(plan):
        pa, pb = edge.query(part), server.query(part)
        if pa or pb:
            assert_same_ranking(
                pa, pb, {p.id: p.score for p in server.query(replace(part, top_k=3 * part.top_k))}
            )
    for store, result in ((edge, a), (server, b)):
        fused = fuse(plan, [store.query(part) for part in components(plan)])
        best = sorted(fused.values(), reverse=True)[: plan.top_k]
        np.testing.assert_allclose([p.score for p in result], best, atol=TOL)
        for passage in result:
            assert abs(fused[passage.id] - passage.score) <= TOL
