"""The collection layout: the vectors of a point, how they are stored, which models made them.

The layout is written next to the data when a collection is created and checked every time it is
opened, so a store built with one configuration is never queried with vectors of another.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from retrieval.errors import LayoutMismatchError
from retrieval.settings import RetrievalSettings

DENSE = "dense"
BM25 = "bm25"
COLBERT = "colbert"
MUVERA = "muvera"
# Payload fields with a keyword index: filters by source/document, the ingest bookkeeping (`state`
# hides a document until all its chunks are stored), and the access groups every search filters
# on. A store created before `groups` existed gets the index (and PUBLIC on every point) when it
# is next opened: see the adapters' `_ensure_groups`.
INDEXED_FIELDS: tuple[str, ...] = ("source", "doc_id", "file_hash", "state", "groups")
# Integer payload indexes: `chunk_index = 0` finds one point per document (the document library)
# without reading every point. Created on open when missing, so older stores gain it.
INTEGER_INDEXED_FIELDS: tuple[str, ...] = ("chunk_index",)
LAYOUT_VERSION = 1
# Layout fields that place the stored vectors (RAM or disk) without changing any value; the
# store keeps its own (check_compatible, content).
PLACEMENT = ("colbert_on_disk",)


@dataclass(frozen=True)
class Layout:
    """Everything that decides what is stored; two stores with equal layouts are interchangeable."""

    dense_model: str
    sparse_model: str
    colbert_model: str
    dense_dim: int
    colbert_dim: int
    colbert_datatype: str = "float32"
    colbert_quantization: str = "none"
    colbert_on_disk: bool = False
    dense_quantization: str = "none"
    pool_factor: int = 1
    muvera_dim: int | None = None
    version: int = LAYOUT_VERSION

    @classmethod
    def from_settings(
        cls,
        settings: RetrievalSettings,
        *,
        model_ids: dict[str, str],
        dense_dim: int,
        colbert_dim: int,
        muvera_dim: int | None = None,
    ) -> Layout:
        return cls(
            dense_model=model_ids[DENSE],
            sparse_model=model_ids[BM25],
            colbert_model=model_ids[COLBERT],
            dense_dim=dense_dim,
            colbert_dim=colbert_dim,
            colbert_datatype=settings.colbert_datatype,
            colbert_quantization=settings.colbert_quantization,
            colbert_on_disk=settings.colbert_on_disk,
            dense_quantization=settings.dense_quantization,
            pool_factor=settings.pool_factor,
            muvera_dim=muvera_dim if settings.muvera else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layout:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def differences(self, other: Layout, *, ignore: tuple[str, ...] = ()) -> list[str]:
        """Human-readable `field: stored → requested` lines for every field that differs
        (but those named in `ignore`)."""
        return [
            f"{f.name}: stored {getattr(self, f.name)!r} → configured {getattr(other, f.name)!r}"
            for f in fields(self)
            if f.name not in ignore and getattr(self, f.name) != getattr(other, f.name)
        ]

    def check_compatible(self, configured: Layout, where: str) -> Layout:
        """The layout to serve this stored collection with; raises `LayoutMismatchError` naming
        each difference that changes what is stored, and the way out.

        Where the token vectors live (RAM or disk) changes no result, only memory: a store keeps
        the placement it was built with, so a changed default never forces a re-index.
        """
        diff = self.differences(configured, ignore=PLACEMENT)
        if diff:
            raise LayoutMismatchError(
                f"The collection at {where} was built with a different configuration:\n  "
                + "\n  ".join(diff)
                + "\nRe-index it with `msrag reindex` (re-encodes the stored text with the current "
                "settings), or point MSRAG_DATA_DIR / MSRAG_COLLECTION at another collection."
            )
        return replace(configured, colbert_on_disk=self.colbert_on_disk)

    def content(self) -> Layout:
        """This layout without its placement: what decides the stored values alone."""
        return replace(self, colbert_on_disk=False)
