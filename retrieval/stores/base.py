"""The interface both store adapters implement (embedded qdrant-edge and Qdrant server)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from retrieval.schema import Layout
from retrieval.types import Chunk, ChunkVectors, Filter, Passage, QueryPlan, StoredPoint


class Store(Protocol):
    """A Qdrant collection with our layout. Both adapters give identical results for a plan."""

    layout: Layout

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[ChunkVectors]) -> None:
        """Insert or replace points (ids come from the chunks) durably."""
        ...

    def delete(self, filter: Filter) -> None:
        """Delete every point matching the filter."""
        ...

    def set_payload(self, filter: Filter, values: dict[str, Any]) -> None:
        """Set these payload keys on every point matching the filter, durably."""
        ...

    def set_groups(self, filter: Filter, groups: Sequence[str]) -> None:
        """Set the access groups of every point matching the filter (none = everyone).

        A payload update: no vector is re-encoded or rewritten.
        """
        ...

    def query(self, plan: QueryPlan) -> list[Passage]:
        """Run the plan as ONE universal query; passages best first, `rank` from 1."""
        ...

    def count(self, filter: Filter | None = None) -> int:
        """Exact number of points (matching the filter)."""
        ...

    def scroll_payloads(
        self, fields: Sequence[str], filter: Filter | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every point's id and the selected payload fields (for ingest bookkeeping, stats)."""
        ...

    def facet(self, field: str, filter: Filter | None = None) -> dict[str, int]:
        """Exact number of points per value of the indexed keyword `field` (matching the
        filter), read from its payload index, never by scrolling the points."""
        ...

    def scroll_points(
        self, limit: int, offset: str | None = None
    ) -> tuple[list[StoredPoint], str | None]:
        """One page of points in id order, WITH their stored vectors, from `offset` (None: the
        first point); returns the page and the offset of the next one (None after the last).

        The offset is a plain string, so a transfer can save it and resume there."""
        ...

    def upsert_points(self, points: Sequence[StoredPoint]) -> None:
        """Write points as `scroll_points` returned them (no encoding, no re-mapping) durably."""
        ...

    def optimize(self) -> None:
        """Build indexes after a bulk load (no-op where the engine does it itself)."""
        ...

    def describe(self) -> str:
        """Where the data lives, for humans: 'embedded store at …' or 'Qdrant server at …'."""
        ...

    def disk_bytes(self) -> int | None:
        """Bytes on disk, where known."""
        ...

    def drop(self) -> None:
        """Delete the whole collection and close the store."""
        ...

    def close(self) -> None: ...
