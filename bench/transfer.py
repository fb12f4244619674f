"""How fast `msrag export` / `msrag import` move a store, and how big an export file is.

    python -m bench.transfer [--points 5000]      # JSON in bench/results/transfer.json

The points are synthetic with the default layout's shapes (384-d dense, ~60 BM25 terms, 95
float16 token vectors of 384 dimensions: SciFact's mean after pool factor 3), because moving
points costs the same whatever text made them, and no encoding is involved. Measured: an
embedded store → a file → a fresh embedded store, and embedded → qdrant-client's local mode
(the stand-in for a server: no server can run here) with the top-10 verification timed apart.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from qdrant_client import QdrantClient

from bench.harness import RESULTS, peak_rss_mb, write_report
from msrag.settings import Settings
from retrieval.ingest.transfer import FileEndpoint, StoreEndpoint, transfer, verify
from retrieval.schema import Layout
from retrieval.stores import EdgeStore
from retrieval.types import SparseVector, StoredPoint

TOKENS = 95
DIM = 384


def build(path: Path, n: int, seed: int = 3) -> Layout:
    layout = Layout(
        "bench-dense", "bench-bm25", "bench-colbert", DIM, DIM, "float16", pool_factor=3
    )
    rng = np.random.default_rng(seed)
    with EdgeStore(path, layout) as store:
        for start in range(0, n, 250):
            points = []
            for i in range(start, min(n, start + 250)):
                terms = np.unique(rng.integers(0, 30_000, size=60))
                points.append(
                    StoredPoint(
                        str(uuid.UUID(int=i + 1)),
                        {"source": f"doc-{i % 500}.md", "text": f"passage {i} " * 40},
                        {
                            "dense": rng.normal(size=DIM).astype(np.float32).tolist(),
                            "bm25": SparseVector(
                                terms.tolist(), rng.uniform(0.5, 3, len(terms)).tolist()
                            ),
                            "colbert": rng.normal(size=(TOKENS, DIM)).astype(np.float32).tolist(),
                        },
                    )
                )
            store.upsert_points(points)
        store.optimize()
    return layout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=5000)
    args = ap.parse_args()
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="msrag-bench-transfer-") as tmp:
        root = Path(tmp)
        settings = Settings(_env_file=None, data_dir=root / "source")  # type: ignore[call-arg]
        t0 = time.perf_counter()
        build(settings.store_path, args.points)
        print(f"built {args.points} points in {time.perf_counter() - t0:.1f} s")
        source = StoreEndpoint(settings).open_existing()

        dump = root / "store.msrag.jsonl"
        report = transfer(source, FileEndpoint(dump), checkpoint=root / "c1.json")
        rows["embedded → file"] = {"seconds": report.seconds, "bytes": dump.stat().st_size}

        laptop = StoreEndpoint(Settings(_env_file=None, data_dir=root / "laptop"))  # type: ignore[call-arg]
        report = transfer(FileEndpoint(dump).open_existing(), laptop, checkpoint=root / "c2.json")
        assert report.ok
        rows["file → embedded"] = {"seconds": report.seconds}
        laptop.close()

        server = StoreEndpoint(
            Settings(_env_file=None, data_dir=root / "x"),  # type: ignore[call-arg]
            client=QdrantClient(":memory:"),
        )
        report = transfer(source, server, checkpoint=root / "c3.json", sample=0)
        rows["embedded → qdrant-client local mode"] = {"seconds": report.seconds}
        assert source.store is not None and server.store is not None
        t0 = time.perf_counter()
        modes, queries, mismatches = verify(source.store, server.store)
        rows["verify: 20 queries × 5 modes, both stores"] = {
            "seconds": time.perf_counter() - t0,
            "mismatches": len(mismatches),
        }
        assert not mismatches, mismatches
        server.close()
        source.close()

    print(f"\n{args.points} points, default layout shapes ({TOKENS}×{DIM} float16 token vectors)")
    print("| step | seconds | points/s | notes |\n|---|---|---|---|")
    for step, row in rows.items():
        rate = args.points / row["seconds"] if "verify" not in step else float("nan")
        note = f"{row['bytes'] / args.points / 1024:.0f} KB per point" if "bytes" in row else ""
        print(f"| {step} | {row['seconds']:.1f} | {rate:.0f} | {note} |")
    print(f"peak RSS {peak_rss_mb():.0f} MB")
    report = {"points": args.points, "tokens": TOKENS, "dim": DIM, "rows": rows}
    write_report(RESULTS / "transfer.json", report | {"peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main()
