"""What a store costs in RAM and on disk, and whether it has outgrown its layout.

The RAM figure is the vectors the engine keeps in memory under Qdrant's storage model: dense
(float32, plus an int8 copy when quantized), MUVERA (float32) and — unless they are on disk —
the token vectors at the layout's datatype, with the token count per chunk measured on a sample
of stored chunks (pooled as the layout pools). Payloads, indexes and the models come on top.

>>> from retrieval.schema import Layout
>>> layout = Layout("d", "s", "c", 384, 384, colbert_datatype="float16", pool_factor=3)
>>> f = estimate(layout, points=50_000, tokens_per_chunk=285.0, disk_bytes=4 * 2**30)
>>> round(f.colbert_bytes / 2**20), f.colbert_in_ram, f.advice() is None
(3479, True, True)
>>> estimate(layout, points=200_000, tokens_per_chunk=285.0, disk_bytes=None).advice()[:35]
'200,000 chunks with float16 token v'
"""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.pooling import pooled_count
from retrieval.schema import Layout

_BYTES = {"float32": 4, "float16": 2, "uint8": 1}
# From bench/scale.py (docs/benchmarks/scale.md): past these sizes the in-RAM layouts stop fitting a
# laptop's memory or the search-latency targets; uint8 or on-disk token vectors are the fix.
IN_RAM_LIMIT = {"float32": 20_000, "float16": 60_000, "uint8": 120_000}
# On disk, the page cache serves the candidates' token vectors: at 200k chunks float16 (14.6 GB)
# outgrew this 24 GB machine's page cache (search p95 276 ms) where uint8 (7.3 GB) did not (103 ms).
ON_DISK_LIMIT = 100_000


@dataclass(frozen=True)
class Footprint:
    points: int
    layout: Layout
    tokens_per_chunk: float  # stored token vectors per chunk (after pooling)
    colbert_bytes: int  # all token vectors at the stored datatype
    other_vector_bytes: int  # dense (+ quantized copy) and MUVERA, always in RAM
    disk_bytes: int | None

    @property
    def colbert_in_ram(self) -> bool:
        return not self.layout.colbert_on_disk

    @property
    def ram_bytes(self) -> int:
        return self.other_vector_bytes + (self.colbert_bytes if self.colbert_in_ram else 0)

    def describe(self) -> str:
        """One line for `msrag status`."""
        where = "in RAM" if self.colbert_in_ram else "on disk (read through the page cache)"
        disk = f"{self.disk_bytes / 2**20:,.0f} MB on disk" if self.disk_bytes else "disk n/a"
        return (
            f"Footprint: ~{self.ram_bytes / 2**20:,.0f} MB of vectors in RAM, {disk}; "
            f"token vectors {self.colbert_bytes / 2**20:,.0f} MB {where} "
            f"(~{self.tokens_per_chunk:.0f} per chunk, {self.layout.colbert_datatype})"
        )

    def advice(self) -> str | None:
        """A sentence when the store has grown past what its layout suits, else None."""
        if not self.colbert_in_ram:
            if self.points <= ON_DISK_LIMIT or self.layout.colbert_datatype == "uint8":
                return None
            return (
                f"{self.points:,} chunks with {self.layout.colbert_datatype} token vectors on "
                f"disk is past {ON_DISK_LIMIT:,}: uint8 token vectors "
                "(MSRAG_COLBERT_DATATYPE=uint8) halve what the page cache must hold at the same "
                "quality; then run `msrag reindex`."
            )
        limit = IN_RAM_LIMIT[self.layout.colbert_datatype]
        if self.points <= limit:
            return None
        smaller = "uint8 token vectors (MSRAG_COLBERT_DATATYPE=uint8) or " * (
            self.layout.colbert_datatype != "uint8"
        )
        return (
            f"{self.points:,} chunks with {self.layout.colbert_datatype} token vectors in RAM "
            f"is past this layout's {limit:,}: use {smaller}token vectors on disk "
            "(MSRAG_COLBERT_ON_DISK=true), then run `msrag reindex`."
        )


def estimate(
    layout: Layout, *, points: int, tokens_per_chunk: float, disk_bytes: int | None
) -> Footprint:
    """The footprint of `points` chunks of `tokens_per_chunk` *unpooled* tokens each."""
    pooled = float(pooled_count(max(1, round(tokens_per_chunk)), layout.pool_factor))
    colbert = points * pooled * layout.colbert_dim * _BYTES[layout.colbert_datatype]
    if layout.colbert_quantization == "int8":
        colbert += points * pooled * layout.colbert_dim  # the quantized copy
    dense = layout.dense_dim * (4 + (1 if layout.dense_quantization == "int8" else 0))
    muvera = (layout.muvera_dim or 0) * 4
    return Footprint(
        points=points,
        layout=layout,
        tokens_per_chunk=pooled,
        colbert_bytes=int(colbert),
        other_vector_bytes=points * (dense + muvera),
        disk_bytes=disk_bytes,
    )
