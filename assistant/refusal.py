"""Knowing when not to answer: is the best retrieved passage relevant enough to answer from?

The evidence is the top passage's final score, made comparable across questions:

- ColBERT-reranked modes (`dense+colbert`, `bm25+colbert`, `hybrid+colbert`, `muvera+colbert`):
  MaxSim sums, over the query's token vectors, the best cosine with a passage token — so it grows
  with the question's length. We divide by the number of query token vectors: the mean best
  cosine per query token, in [-1, 1].
- `dense`: the cosine itself.
- `hybrid+colbert+rrf`, `hybrid+colbert+dbsf` (a fusion after the MaxSim rerank): the fused
  score is rank- or distribution-based, with no absolute scale, so the retriever reads back the
  MaxSim per query token of the passages it returns from their stored token vectors
  (`search(relevance=True)`), and the best of them is the evidence — the same scale, and the
  same threshold, as the MaxSim modes. (Checked on the first 1,280 SciFact documents, 79
  queries: `hybrid+colbert+dbsf`'s evidence calibrated at 0.427 like `hybrid+colbert`'s, with
  the same margins — `bench/results/peer.json`, docs/benchmarks/peer.md.)
- `bm25`, `hybrid`: the final score is a BM25 sum or an RRF rank score, which says nothing
  absolute about relevance; only an empty result refuses (unless `MSRAG_MIN_RERANK_SCORE` sets
  a threshold on the raw score).

The defaults were calibrated on SciFact (5,183 abstracts, 300 test queries, offline MiniLM
models, the default layout: float16 token vectors pooled by 3) by
`python -m bench.assistant <scifact> --offline --calibrate`: the top relevance of every test
query (all are answerable) against that of 20 off-topic questions; the threshold is the cut with
the best balanced accuracy, midway between the scores on either side of it.

| mode | threshold | answerable answered | off-topic refused | same-domain refused |
|---|---|---|---|---|
| dense | 0.37 | 98.0 % | 100 % | 4.3 % |
| dense+colbert, hybrid+colbert | 0.44 | 99.7 % | 100 % | 1.7 % |
| bm25+colbert | 0.44 | 99.3 % | 100 % | 2.7 % |

"Same-domain" are the same queries with their relevant documents filtered out: the passages
are on topic but do not answer, so refusing there is the prompt's job ("say so when the
passages do not contain the answer"), not the threshold's. Off-topic questions top out at 0.433
(colbert modes) and 0.361 (dense); the margin is thin, so a corpus of short chunks, another
model or another pool factor (unpooled vectors calibrate at 0.46) calls for recalibration
(MSRAG_MIN_RERANK_SCORE). `muvera+colbert` reranks with the same MaxSim and shares the colbert
threshold (the SciFact collection has no MUVERA vectors to calibrate it separately).

>>> relevance_of(20.0, "hybrid+colbert", query_tokens=32)
0.625
"""

from __future__ import annotations

from collections.abc import Sequence

from assistant.settings import AssistantSettings
from retrieval.modes import MODE_SPECS, ScoreKind, mode_spec
from retrieval.types import Passage

# Score kind (retrieval/modes.py) → minimum relevance (see the module docstring); the kinds left
# out ("rank", "bm25") have no absolute scale, so only an empty result refuses.
_BY_SCORE: dict[ScoreKind, float] = {"cosine": 0.37, "maxsim": 0.44}
# The same, per mode (what the calibration benchmark reports and compares against).
DEFAULT_THRESHOLDS: dict[str, float | None] = {
    name: _BY_SCORE["maxsim"] if spec.fuses_maxsim else _BY_SCORE.get(spec.score)
    for name, spec in MODE_SPECS.items()
}


def needs_stored_maxsim(mode: str) -> bool:
    """The mode's final score is a fusion: read the passages' MaxSim back for the check."""
    return mode_spec(mode).fuses_maxsim


def needs_query_tokens(mode: str) -> bool:
    """MaxSim grows with the query's token count: its relevance is per query token."""
    return mode_spec(mode).score == "maxsim"


def relevance_of(score: float, mode: str, query_tokens: int | None = None) -> float:
    """The top score on the scale the thresholds use."""
    if needs_query_tokens(mode) and query_tokens:
        return score / query_tokens
    return score


def top_relevance(passages: Sequence[Passage], mode: str, query_tokens: int | None) -> float | None:
    """The evidence for `passages` (best first) retrieved in `mode`, on the thresholds' scale:
    the best stored-vector MaxSim per token for a fused mode, else the top score's relevance."""
    if not passages:
        return None
    if needs_stored_maxsim(mode):
        values = [p.maxsim_per_token for p in passages if p.maxsim_per_token is not None]
        return max(values) if values else None
    return relevance_of(passages[0].score, mode, query_tokens)


def threshold_for(settings: AssistantSettings, mode: str) -> float | None:
    """`MSRAG_MIN_RERANK_SCORE` when set, else the calibrated default for `mode`."""
    if settings.min_rerank_score is not None:
        return settings.min_rerank_score
    return DEFAULT_THRESHOLDS.get(mode)
