"""Small typed values that cross module boundaries inside `retrieval/` and up to `assistant/`.

`Chunk` flows ingest → store, `ChunkVectors` encoders → store, `QueryPlan` retriever → store
adapter, `Passage` store → retriever → assistant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from retrieval.access import access_groups, stored_groups

# Payload keys every point carries (the collection layout indexes `source`, `doc_id`, `groups`).
PAYLOAD_FIELDS: tuple[str, ...] = (
    "doc_id",
    "source",
    "title",
    "text",
    "chunk_index",
    "chunk_count",
    "char_start",
    "char_end",
    "page",
    "heading",
    "file_hash",
    "state",
    "groups",
)
# Per-document facts repeated on each of its chunks, for the document library (`library.py`).
# Kept apart from PAYLOAD_FIELDS: `ingested_at` differs between two ingests of the same file, and
# every other field describes the chunk's content. Points stored before these existed lack them.
DOCUMENT_FIELDS: tuple[str, ...] = ("size_bytes", "page_count", "ingested_at")
# `state` of a chunk ingest is still writing: hidden from every query until the whole document
# version is stored (then "complete"). Points without a state (older stores) are visible.
PENDING = "pending"
COMPLETE = "complete"


@dataclass(frozen=True)
class Chunk:
    """One passage of one document, as stored (one Qdrant point)."""

    id: str  # stable UUID derived from source + chunk index + content
    doc_id: str
    source: str  # file path or URL the user recognises
    title: str
    text: str
    chunk_index: int
    chunk_count: int  # chunks in this version of the document; lets ingest detect partial files
    char_start: int  # offsets into the document's extracted text
    char_end: int
    file_hash: str  # content hash of the whole document version
    page: int | None = None
    heading: str | None = None
    groups: tuple[str, ...] = ()  # who may see it (retrieval/access.py); none = everyone
    size_bytes: int | None = None  # the file's size
    page_count: int | None = None  # pages of a PDF; None for files without pages
    ingested_at: str | None = None  # ISO 8601 UTC, when this version was stored
    state: str | None = None  # PENDING while ingest writes its document, then COMPLETE

    def payload(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in PAYLOAD_FIELDS + DOCUMENT_FIELDS}
        values["groups"] = stored_groups(self.groups)
        return values


@dataclass(frozen=True)
class SparseVector:
    indices: list[int]
    values: list[float]


@dataclass(frozen=True)
class StoredPoint:
    """One point exactly as a collection holds it: id, payload and named vectors as stored.

    What `Store.scroll_points` reads and `Store.upsert_points` writes, so points move between
    stores (or through a file) without re-encoding: `vectors` maps `dense`/`muvera` to a list of
    floats, `colbert` to a list of token vectors (already pooled, in stored values) and `bm25`
    to a `SparseVector`.
    """

    id: str
    payload: dict[str, Any]
    vectors: dict[str, Any]


@dataclass(frozen=True)
class ChunkVectors:
    """The vectors of one chunk (or one query): what the encoders produce."""

    dense: np.ndarray | None = None  # [dim]
    sparse: SparseVector | None = None
    colbert: np.ndarray | None = None  # [tokens, dim]
    muvera: np.ndarray | None = None  # [muvera_dim]


@dataclass(frozen=True)
class Filter:
    """Engine-neutral payload filter: every key must match (a list means any of its values).

    `groups` is the caller's access (None = unrestricted): the adapters render it as its own
    `MatchAny` condition on the `groups` field next to the `must` ones, so a `must`/`must_not`
    entry — whatever its key or value — can only narrow it (conditions are ANDed).
    """

    must: dict[str, str | int | list[str] | list[int]] = field(default_factory=dict)
    must_not: dict[str, str | int | list[str] | list[int]] = field(default_factory=dict)
    groups: tuple[str, ...] | None = None

    def __bool__(self) -> bool:
        return bool(self.must or self.must_not) or self.groups is not None

    def restricted_to(self, groups: tuple[str, ...] | None) -> Filter:
        """This filter with the caller's access added (None leaves it as it is).

        If the filter already names groups, the result keeps only the groups in both: access
        can be narrowed by a caller's filter, never widened.
        """
        if groups is None:
            return self
        if self.groups is not None:
            groups = tuple(sorted(set(groups) & set(self.groups)))
        return Filter(must=self.must, must_not=self.must_not, groups=tuple(groups))

    def access_condition(self) -> tuple[str, ...] | None:
        """The keywords the `groups` field must contain one of, or None for no restriction."""
        return None if self.groups is None else access_groups(self.groups)


# One source for the query's defaults: `RetrievalSettings` and `QueryPlan` both start from these.
DEFAULT_TOP_K = 5
DEFAULT_PREFETCH_LIMIT = 100
DEFAULT_RRF_K = 2  # Qdrant's own RRF constant
DEFAULT_HNSW_EF = 256
DEFAULT_MAX_QUERY_CHARS = 4000  # one limit for search and ask


@dataclass(frozen=True)
class QueryPlan:
    """One logical universal query; each store adapter renders it for its engine."""

    mode: str  # a name from retrieval.modes.MODES
    query: ChunkVectors
    top_k: int = DEFAULT_TOP_K
    prefetch_limit: int = DEFAULT_PREFETCH_LIMIT
    rrf_k: int = DEFAULT_RRF_K
    filter: Filter | None = None
    with_vectors: bool = False  # return stored colbert vectors (for the alignment view)
    # Single-vector prefetches (dense, MUVERA) by brute force. False lets Qdrant choose: it
    # still scans a segment under its full-scan threshold (~6,600 384-d vectors), and past it
    # walks the HNSW graph with `hnsw_ef` candidates (docs/reference/retrieval-modes.md).
    dense_exact: bool = False
    hnsw_ef: int = DEFAULT_HNSW_EF


@dataclass
class Passage:
    """A retrieved chunk with its score and everything needed to cite it."""

    id: str
    score: float
    text: str
    doc_id: str
    source: str
    title: str
    chunk_index: int
    char_start: int
    char_end: int
    page: int | None = None
    heading: str | None = None
    rank: int = 0
    mode: str = ""
    groups: tuple[str, ...] = ()  # the stored access groups (PUBLIC for everyone)
    colbert: np.ndarray | None = None  # stored token vectors, when the plan asked for them
    # MaxSim per query token from the stored vectors, read back for a fused mode's refusal
    # check (`MultiStageRetriever.search(relevance=True)`); None when not asked for
    maxsim_per_token: float | None = None

    @classmethod
    def from_payload(cls, id: str, score: float, payload: dict[str, Any], **kwargs: Any) -> Passage:
        return cls(
            id=str(id),
            score=float(score),
            text=payload.get("text", ""),
            doc_id=str(payload.get("doc_id", "")),
            source=payload.get("source", ""),
            title=payload.get("title", ""),
            chunk_index=int(payload.get("chunk_index", 0)),
            char_start=int(payload.get("char_start", 0)),
            char_end=int(payload.get("char_end", 0)),
            page=payload.get("page"),
            heading=payload.get("heading"),
            groups=tuple(payload.get("groups") or ()),
            **kwargs,
        )

    def metadata(self) -> dict[str, Any]:
        """What a LlamaIndex node carries: every source field and the score of this stage."""
        return {
            "doc_id": self.doc_id,
            "source": self.source,
            "title": self.title,
            "chunk_index": self.chunk_index,
            "char_start": self.char_start,
            "char_end": self.char_end,
            "page": self.page,
            "heading": self.heading,
            "score": self.score,
            "rank": self.rank,
            "mode": self.mode,
            "groups": list(self.groups),
        }


VectorKind = Literal["dense", "sparse", "multivector"]
QueryVector = list[float] | list[list[float]] | SparseVector


@dataclass(frozen=True)
class Stage:
    """One step of a universal query: a nearest search on one vector, or a fusion.

    A nearest stage scores points by `vector` against the stored vector `using`; with `children`
    it only rescores the children's candidates (the rerank), without them it searches the whole
    collection. A fusion stage merges its children: by reciprocal rank (`rrf_k` set), or by
    distribution-based score fusion (`dbsf`: each child's scores normalised by their mean ± 3
    standard deviations, then summed — Qdrant's `Fusion.DBSF`).

    >>> s = Stage(limit=10, using="dense", kind="dense", vector=[0.1, 0.2], exact=True)
    >>> s.describe()
    'dense(10, exact)'
    """

    limit: int
    using: str | None = None  # stored vector name; None for a fusion stage
    kind: VectorKind | None = None
    vector: QueryVector | None = None
    rrf_k: int | None = None  # set: this stage fuses its children with RRF, 1/(k + rank)
    dbsf: bool = False  # this stage fuses its children by distribution-based score fusion
    children: tuple[Stage, ...] = ()
    exact: bool = False  # brute force instead of the HNSW graph
    hnsw_ef: int | None = None  # the graph search's candidate list, when not exact
    rescore: bool = False  # the stored vectors are quantized: rescore with the originals
    filter: Filter | None = None

    @property
    def is_fusion(self) -> bool:
        return self.rrf_k is not None or self.dbsf

    def describe(self) -> str:
        """A one-line rendering, e.g. `colbert(5)[dense(100, exact), bm25(100)]`."""
        if self.dbsf:
            head = f"dbsf({self.limit})"
        elif self.is_fusion:
            head = f"rrf(k={self.rrf_k}, {self.limit})"
        else:
            flags = [str(self.limit)]
            if self.exact:
                flags.append("exact")
            elif self.hnsw_ef is not None:
                flags.append(f"ef={self.hnsw_ef}")
            if self.rescore:
                flags.append("rescore")
            head = f"{self.using}({', '.join(flags)})"
        if self.children:
            head += "[" + ", ".join(child.describe() for child in self.children) + "]"
        return head
