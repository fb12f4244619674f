"""BEIR loading and metrics: ranx checked against values computed by hand on a tiny run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from retrieval.errors import RetrievalError
from retrieval.ingest.evaluate import corpus_chunks, load_beir, per_query_scores, score_run
from tests.retrieval.ingest.helpers import write_beir


class TestMetrics:
    def test_hand_computed_ndcg_recall_mrr(self) -> None:
        qrels = {"q1": {"a": 1, "c": 1}, "q2": {"x": 1}}
        run = {
            "q1": {"b": 3.0, "a": 2.0, "c": 1.0},  # relevant at ranks 2 and 3
            "q2": {"y": 2.0, "z": 1.0},  # relevant never retrieved
        }
        scores = score_run(qrels, run)
        dcg = 1 / math.log2(3) + 1 / math.log2(4)
        idcg = 1 / math.log2(2) + 1 / math.log2(3)
        assert scores["ndcg@10"] == pytest.approx((dcg / idcg + 0.0) / 2, abs=1e-6)
        assert scores["mrr@10"] == pytest.approx((1 / 2 + 0) / 2, abs=1e-6)
        assert scores["recall@10"] == pytest.approx((2 / 2 + 0) / 2, abs=1e-6)
        assert scores["recall@100"] == pytest.approx(0.5, abs=1e-6)

    def test_a_query_with_no_results_counts_as_zero(self) -> None:
        scores = score_run({"q1": {"a": 1}, "q2": {"b": 1}}, {"q1": {"a": 1.0}})
        assert scores["ndcg@10"] == pytest.approx(0.5)

    def test_per_query_scores_average_to_the_run_score(self) -> None:
        qrels = {"q1": {"a": 1, "c": 1}, "q2": {"x": 1}, "q3": {"m": 1}}
        run = {"q1": {"b": 3.0, "a": 2.0, "c": 1.0}, "q3": {"m": 1.0}}  # q2: no results
        per_query = per_query_scores(qrels, run)
        dcg = 1 / math.log2(3) + 1 / math.log2(4)
        idcg = 1 / math.log2(2) + 1 / math.log2(3)
        assert per_query == pytest.approx({"q1": dcg / idcg, "q2": 0.0, "q3": 1.0})
        assert sum(per_query.values()) / 3 == pytest.approx(score_run(qrels, run)["ndcg@10"])


class TestBeirLoader:
    def test_reads_corpus_queries_and_judged_queries_only(self, tmp_path: Path) -> None:
        root = write_beir(
            tmp_path / "tiny",
            {"d1": ("T1", "one"), "d2": ("", "two")},
            {"q1": "first?", "q2": "unjudged?"},
            [("q1", "d1", 1)],
        )
        ds = load_beir(root)
        assert ds.name == "tiny" and set(ds.queries) == {"q1"} and ds.qrels == {"q1": {"d1": 1}}
        chunks = corpus_chunks(ds)
        assert [c.text for c in chunks] == ["T1 one", "two"]
        assert chunks[0].id == corpus_chunks(load_beir(root))[0].id  # stable ids

    def test_missing_split_names_the_file(self, tmp_path: Path) -> None:
        root = write_beir(tmp_path / "tiny", {"d1": ("", "x")}, {"q1": "x"}, [("q1", "d1", 1)])
        with pytest.raises(RetrievalError, match="dev.tsv"):
            load_beir(root, split="dev")
