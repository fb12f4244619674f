"""The document library on a 50k-chunk store: index reads against a full scan, both engines.

    python -m bench.library [--documents 500] [--chunks-per-document 100]

Builds a store of synthetic chunks (tiny random vectors: the library never reads vectors) and
times what a click on the Documents page costs: the table (`documents`), opening one document
(`chunks_of`), the sidebar count (`document_count`), against what counting documents cost before
(scrolling every point's `source`). Also records how many points each operation read, from a
store wrapper that counts scrolled rows. Writes bench/results/library.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import QdrantClient

from bench.harness import RESULTS, summary, write_report
from retrieval.ingest.library import chunks_of, document_count, documents
from retrieval.schema import Layout
from retrieval.stores import EdgeStore, ServerStore, Store
from retrieval.types import Chunk, ChunkVectors, Filter, SparseVector


class Counting:
    """A store that counts the points its scrolls return (what a read costs in points)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.points = 0

    def scroll_payloads(self, fields: Any, filter: Filter | None = None) -> Iterator[Any]:
        for row in self.store.scroll_payloads(fields, filter):
            self.points += 1
            yield row

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def layout() -> Layout:
    return Layout(
        dense_model="bench-dense",
        sparse_model="bench-bm25",
        colbert_model="bench-colbert",
        dense_dim=4,
        colbert_dim=4,
    )


def fill(store: Store, documents_: int, per_document: int, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    batch: list[Chunk] = []
    vectors: list[ChunkVectors] = []
    for d in range(documents_):
        source = f"docs/doc-{d:05d}.md"
        for i in range(per_document):
            batch.append(
                Chunk(
                    id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source}#{i}")),
                    doc_id=f"doc-{d}",
                    source=source,
                    title=f"Document {d}",
                    text=f"chunk {i} of document {d}",
                    chunk_index=i,
                    chunk_count=per_document,
                    char_start=100 * i,
                    char_end=100 * i + 99,
                    file_hash=f"hash-{d}",
                    size_bytes=100 * per_document,
                    ingested_at="2026-11-29T07:00:00+00:00",
                )
            )
            vectors.append(
                ChunkVectors(
                    dense=rng.normal(size=4).astype(np.float32),
                    sparse=SparseVector([int(rng.integers(1000))], [1.0]),
                    colbert=rng.normal(size=(2, 4)).astype(np.float32),
                )
            )
            if len(batch) == 2000:
                store.upsert(batch, vectors)
                batch, vectors = [], []
    if batch:
        store.upsert(batch, vectors)
    store.optimize()


def timed(run: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - t) * 1000)
    return times, result


def measure(store: Store, documents_: int, repeats: int) -> dict[str, Any]:
    counting = Counting(store)
    middle = f"docs/doc-{documents_ // 2:05d}.md"

    def full_scan() -> int:  # how the sidebar and `msrag status` counted documents before
        return len({p.get("source") for _, p in counting.scroll_payloads(["source"])})

    operations: dict[str, Callable[[], Any]] = {
        "table (documents)": lambda: documents(counting),  # type: ignore[arg-type]
        "open one (chunks_of)": lambda: chunks_of(counting, middle),  # type: ignore[arg-type]
        "count (document_count)": lambda: document_count(counting),  # type: ignore[arg-type]
        "before: count by full scan": full_scan,
    }
    rows: dict[str, Any] = {}
    for name, run in operations.items():
        counting.points = 0
        times, result = timed(run, repeats)
        rows[name] = {"ms": summary(times), "points_read": counting.points // repeats}
        if name.startswith("count") or name.startswith("before"):
            assert result == documents_, (name, result)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--documents", type=int, default=500)
    ap.add_argument("--chunks-per-document", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--engines", default="edge,server")
    ap.add_argument("--output", type=Path, default=RESULTS / "library.json")
    args = ap.parse_args()

    total = args.documents * args.chunks_per_document
    report: dict[str, Any] = {
        "documents": args.documents,
        "chunks": total,
        "repeats": args.repeats,
        "engines": {},
    }
    for engine in args.engines.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            if engine == "edge":
                store: Any = EdgeStore(Path(tmp) / "shard", layout())
            else:  # qdrant-client local mode: the server adapter's code path, no server needed
                store = ServerStore(QdrantClient(":memory:"), "bench", layout())
            t = time.perf_counter()
            fill(store, args.documents, args.chunks_per_document)
            load_s = time.perf_counter() - t
            assert store.count() == total
            rows = measure(store, args.documents, args.repeats)
            store.close()
        report["engines"][engine] = {"load_s": load_s, "operations": rows}
        print(
            f"\n{engine}: {args.documents} documents, {total:,} chunks (loaded in {load_s:.0f} s)"
        )
        print(f"{'operation':<28} {'p50 ms':>9} {'p95 ms':>9} {'points read':>12}")
        for name, row in rows.items():
            print(
                f"{name:<28} {row['ms']['p50']:>9.1f} {row['ms']['p95']:>9.1f} "
                f"{row['points_read']:>12,}"
            )
    write_report(args.output, report)
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
