"""The retrieval modes: one `ModeSpec` each, read by the settings, the retriever, the query plan,
the refusal check and the commands. Adding a mode is one entry here plus its test.

>>> MODE_SPECS["hybrid+colbert"].query_vectors
('dense', 'sparse', 'colbert')
>>> [m for m in MODES if MODE_SPECS[m].score == "maxsim"]
['dense+colbert', 'bm25+colbert', 'hybrid+colbert', 'muvera+colbert']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from retrieval.errors import InvalidArgumentError

if TYPE_CHECKING:
    from retrieval.types import Stage

# What the final score of a mode means, so callers know what a threshold on it can say:
# "maxsim" grows with the query's token count (refusal divides by it), "cosine" is absolute,
# "rank" (a fusion) and "bm25" (an unnormalised sum) carry no absolute relevance.
ScoreKind = Literal["maxsim", "cosine", "rank", "bm25"]
QueryVector = Literal["dense", "sparse", "colbert", "muvera"]


class StageFactory(Protocol):
    """The stages a mode's tree is made of (`retrieval.plan` implements it per query)."""

    def dense(self, limit: int) -> Stage: ...
    def bm25(self, limit: int) -> Stage: ...
    def muvera(self, limit: int) -> Stage: ...
    def colbert(self, limit: int, children: tuple[Stage, ...]) -> Stage: ...
    def rrf(self, limit: int, children: tuple[Stage, ...]) -> Stage: ...
    def dbsf(self, limit: int, children: tuple[Stage, ...]) -> Stage: ...


@dataclass(frozen=True)
class ModeSpec:
    """One retrieval mode: the query vectors it needs, its stage tree and its score's meaning."""

    name: str
    query: str  # the universal query in words (the table in docs/reference/retrieval-modes.md)
    query_vectors: tuple[QueryVector, ...]
    score: ScoreKind
    # (stages, top_k, prefetch_limit) → the root of the one universal query
    tree: Callable[[StageFactory, int, int], Stage]
    # A fusion that includes a MaxSim rerank: its final score is not MaxSim, but the passages'
    # MaxSim can be read back from their stored token vectors (`search(relevance=True)`), which
    # keeps an absolute per-token scale for the refusal check.
    fuses_maxsim: bool = False

    @property
    def needs_muvera(self) -> bool:
        """The collection must store MUVERA vectors (`MSRAG_MUVERA=true`)."""
        return "muvera" in self.query_vectors

    def needs(self, vector: QueryVector) -> bool:
        return vector in self.query_vectors


_SPECS = (
    ModeSpec(
        "dense", "nearest on `dense` (exact)", ("dense",), "cosine", lambda s, k, p: s.dense(k)
    ),
    ModeSpec(
        "bm25",
        "nearest on sparse `bm25` (Qdrant applies IDF)",
        ("sparse",),
        "bm25",
        lambda s, k, p: s.bm25(k),
    ),
    ModeSpec(
        "hybrid",
        "RRF(dense top-P, bm25 top-P)",
        ("dense", "sparse"),
        "rank",
        lambda s, k, p: s.rrf(k, (s.dense(p), s.bm25(p))),
    ),
    ModeSpec(
        "dense+colbert",
        "dense top-P → ColBERT MaxSim rerank",
        ("dense", "colbert"),
        "maxsim",
        lambda s, k, p: s.colbert(k, (s.dense(p),)),
    ),
    ModeSpec(
        "bm25+colbert",
        "bm25 top-P → ColBERT MaxSim rerank",
        ("sparse", "colbert"),
        "maxsim",
        lambda s, k, p: s.colbert(k, (s.bm25(p),)),
    ),
    ModeSpec(
        "hybrid+colbert",
        "dense top-P ∪ bm25 top-P → ColBERT MaxSim rerank",
        ("dense", "sparse", "colbert"),
        "maxsim",
        lambda s, k, p: s.colbert(k, (s.dense(p), s.bm25(p))),
    ),
    ModeSpec(
        "hybrid+colbert+rrf",
        "RRF(MaxSim over dense∪bm25, bm25 top-P, dense top-P): fusion after the rerank",
        ("dense", "sparse", "colbert"),
        "rank",
        lambda s, k, p: s.rrf(k, (s.colbert(p, (s.dense(p), s.bm25(p))), s.bm25(p), s.dense(p))),
        fuses_maxsim=True,
    ),
    ModeSpec(
        "hybrid+colbert+dbsf",
        "DBSF(MaxSim over dense∪bm25, bm25 top-P, dense top-P): distribution-based fusion after "
        "the rerank",
        ("dense", "sparse", "colbert"),
        "rank",
        lambda s, k, p: s.dbsf(k, (s.colbert(p, (s.dense(p), s.bm25(p))), s.bm25(p), s.dense(p))),
        fuses_maxsim=True,
    ),
    ModeSpec(
        "muvera+colbert",
        "MUVERA single-vector prefetch → exact MaxSim (needs MSRAG_MUVERA=true)",
        ("colbert", "muvera"),
        "maxsim",
        lambda s, k, p: s.colbert(k, (s.muvera(p),)),
    ),
)
MODE_SPECS: dict[str, ModeSpec] = {spec.name: spec for spec in _SPECS}
MODES: tuple[str, ...] = tuple(MODE_SPECS)
# bench/peer.py on all of SciFact test: nDCG@10 0.743 against 0.724 for hybrid+colbert and 0.728
# for stock LlamaIndex hybrid (paired 95% CI above 0), at the same search time; and 0.744 on 807
# held-out SciFact claims nobody tuned on (issue 14). Refusal reads the stored-vector MaxSim.
DEFAULT_MODE = "hybrid+colbert+dbsf"


def mode_spec(name: str) -> ModeSpec:
    """The spec of mode `name`; an unknown name is an `InvalidArgumentError` listing the modes."""
    try:
        return MODE_SPECS[name]
    except KeyError:
        raise InvalidArgumentError(
            f"Unknown retrieval mode {name!r}: choose one of {', '.join(MODES)}."
        ) from None
