"""Knowing when not to answer: is the best retrieved passage relevant enough to answer from?

The evidence is the top passage's final score, made comparable across questions:

- ColBERT-reranked modes (`dense+colbert`, `bm25+colbert`, `hybrid+colbert`, `muvera+colbert`):
  MaxSim sums, over the query's token vectors, the best cosine with a passage token — so it grows
  with the question's length. We divide by the number of query token vectors: the mean best
  cosine per query token, in [-1, 1].
- `dense`: the cosine itself.
- `bm25`, `hybrid`, `hybrid+colbert+rrf`: the final score is a BM25 sum or an RRF rank score,
  which says nothing absolute about relevance; only an empty result refuses (unless
  `MSRAG_MIN_RERANK_SCORE` sets a threshold on the raw score).

The defaults were calibrated on SciFact by `bench/assistant.py --calibrate` (see the README):
for each test query, the top score with its relevant documents available (answerable) against
the top score with them filtered out (unanswerable); the threshold keeps ≥ 95 % of answerable
queries answered, and the rate of refused unanswerable ones is reported.

>>> relevance_of(20.0, "hybrid+colbert", query_tokens=32)
0.625
"""

from __future__ import annotations

from retrieval.settings import Settings

# mode → minimum relevance (see the module docstring); None: no absolute threshold.
DEFAULT_THRESHOLDS: dict[str, float | None] = {
    "dense": 0.30,
    "bm25": None,
    "hybrid": None,
    "dense+colbert": 0.45,
    "bm25+colbert": 0.45,
    "hybrid+colbert": 0.45,
    "hybrid+colbert+rrf": None,
    "muvera+colbert": 0.45,
}

_PER_TOKEN = {"dense+colbert", "bm25+colbert", "hybrid+colbert", "muvera+colbert"}


def needs_query_tokens(mode: str) -> bool:
    return mode in _PER_TOKEN


def relevance_of(score: float, mode: str, query_tokens: int | None = None) -> float:
    """The top score on the scale the thresholds use."""
    if mode in _PER_TOKEN and query_tokens:
        return score / query_tokens
    return score


def threshold_for(settings: Settings, mode: str) -> float | None:
    """`MSRAG_MIN_RERANK_SCORE` when set, else the calibrated default for `mode`."""
    if settings.min_rerank_score is not None:
        return settings.min_rerank_score
    return DEFAULT_THRESHOLDS.get(mode)
