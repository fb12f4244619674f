"""How every cost grows with the store: 5k, 50k and 200k chunks, per layout, in one run.

Above SciFact's size the stores are built from SciFact's **real** cached vectors (the cache of
`bench.optimizations`, read-only; nothing is encoded but the 100 queries), replicated:

- point `i` is base document `j = i mod B` (B = the cached documents), replica `r = i div B`;
- replica 0 is the document's own vectors; replica r > 0 adds Gaussian noise of norm ~`--noise`
  (0.1: cosine ~0.995 to the original) to every stored vector, token vectors *after* pooling,
  and renormalises each to unit length (MUVERA: noise relative to its norm); the BM25 vector and
  the text are the base document's (the text gets a `[j:r]` prefix);
- so every point has SciFact's real token counts (~95 pooled vectors at pool factor 3) and
  realistic geometry; retrieval quality at these sizes is not the point, cost is.

Per (size, layout), in fresh processes: upsert time (per 10k chunks) and optimize time, disk,
then a serving process that opens the store (time, RSS) and runs 100 SciFact test questions
(the default mode, top 5, with the product's dense search: Qdrant scans below its full-scan
threshold and walks HNSW at `hnsw_ef` past it; `muvera+colbert` on the MUVERA layout) —
**search only**, query encoding excluded — p50/p95, the same with the dense prefetch forced
exact, peak and steady RSS; and the dense prefetch alone, exact vs HNSW (p50, and HNSW's
recall@100 against exact at `hnsw_ef` and at the engine's default ef).

    python -m bench.scale /work/shared/data/scifact --offline
    python -m bench.scale DATA --offline --sizes 200000 --layouts default,uint8
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.harness import (
    RESULTS,
    add_model_options,
    peak_rss_mb,
    read_questions,
    rss_mb,
    run_child,
    settings_from,
    summary,
    write_report,
)

console = Console(width=160)
WORK = Path.home() / ".cache" / "msrag" / "bench-stores"
LAYOUTS: dict[str, dict[str, Any]] = {
    "default": {},  # float16, pool factor 3, token vectors on disk
    "inram": {"colbert_on_disk": False},  # the default before: token vectors loaded at open
    "uint8": {"colbert_datatype": "uint8"},  # on disk
    "uint8-inram": {"colbert_datatype": "uint8", "colbert_on_disk": False},
    "muvera": {"muvera": True},
}
PLAN = {
    5_000: ("default", "inram", "uint8", "muvera"),
    50_000: ("default", "inram", "uint8"),
    200_000: ("default", "uint8"),
}


# --- replicated corpus -----------------------------------------------------------------------
def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class ReplicaEncoder:
    """Vectors for the `[j:r] text` chunks of the replicated corpus (no model runs)."""

    def __init__(self, base: list[Any], noise: float, batch_size: int = 64) -> None:
        self.base = base  # ChunkVectors with the layout's index-time options applied
        self.noise = noise
        self.batch_size = batch_size
        self.max_batch_tokens = 10**9

    def vectors(self, j: int, r: int) -> Any:
        v = self.base[j]
        if r == 0:
            return v
        rng = np.random.default_rng((j, r))

        def jitter(x: np.ndarray) -> np.ndarray:
            scale = self.noise / np.sqrt(x.shape[-1])
            return _unit(x + rng.normal(0.0, scale, x.shape).astype(np.float32)).astype(np.float32)

        muvera = v.muvera
        if muvera is not None:
            norm = float(np.linalg.norm(muvera))
            muvera = muvera + rng.normal(
                0.0, self.noise * norm / np.sqrt(len(muvera)), muvera.shape
            )
            muvera = muvera.astype(np.float32)
        return replace(v, dense=jitter(v.dense), colbert=jitter(v.colbert), muvera=muvera)

    def encode_documents(self, texts: Sequence[str]) -> list[Any]:
        out = []
        for t in texts:
            j, r = t[1 : t.index("]")].split(":")
            out.append(self.vectors(int(j), int(r)))
        return out


def replica_chunks(base_chunks: list[Any], n: int) -> Iterator[Any]:
    b = len(base_chunks)
    for i in range(n):
        j, r = i % b, i // b
        c = base_chunks[j]
        text = f"[{j}:{r}] {c.text}"
        yield replace(
            c,
            id=f"{i // 2**32:08x}-0000-4000-8000-{i % 2**32:012x}",
            doc_id=f"{c.doc_id}-{r}",
            source=f"scale/{c.doc_id}/{r}",
            text=text,
            char_end=len(text),
        )


# --- children --------------------------------------------------------------------------------
def _settings(args: argparse.Namespace, layout: str, size: int) -> Any:
    return settings_from(
        args,
        **LAYOUTS[layout],
        data_dir=args.work,
        collection=f"scale-{size}-{layout}",
    )


def child_build(args: argparse.Namespace) -> dict[str, Any]:
    from bench.cached_vectors import load_cached  # noqa: PLC0415 - child-only imports
    from retrieval.encoders import Encoders  # noqa: PLC0415
    from retrieval.ingest.pipeline import ingest_chunks  # noqa: PLC0415
    from retrieval.postprocess import apply_index_time_options  # noqa: PLC0415
    from retrieval.stores import open_store  # noqa: PLC0415

    settings = _settings(args, args.layout, args.size)
    encoders = Encoders(settings)
    cached = load_cached(args.dataset, settings, encoders, allow_partial=True)
    base_chunks = [c for c in cached.chunks if c.doc_id in cached.docs][: args.base_docs]
    start = time.perf_counter()
    # Pooling (Ward) is the costly part: done once per (options, base documents), then reused.
    key = f"base-pool{settings.pool_factor}-muvera{int(settings.muvera)}-{len(base_chunks)}.pkl"
    pooled = args.work / key
    if pooled.exists():
        with pooled.open("rb") as fh:
            base = pickle.load(fh)
    else:
        base = [apply_index_time_options(cached.docs[c.doc_id], settings) for c in base_chunks]
        args.work.mkdir(parents=True, exist_ok=True)
        with pooled.with_suffix(".tmp").open("wb") as fh:
            pickle.dump(base, fh, protocol=5)
        pooled.with_suffix(".tmp").replace(pooled)
    prepare_s = time.perf_counter() - start
    replicas = ReplicaEncoder(base, args.noise)
    layout = encoders.layout(settings)
    store = open_store(settings, layout)
    stats = ingest_chunks(
        replica_chunks(base_chunks, args.size), store, replicas, progress=False, window=512
    )
    start = time.perf_counter()
    store.optimize()
    optimize_s = time.perf_counter() - start
    disk = store.disk_bytes() or 0
    store.close()
    return {
        "base_documents": len(base_chunks),
        "points": args.size,
        "pool_and_options_s": prepare_s,
        "upsert_s": stats["seconds"],
        "upsert_s_per_10k": stats["seconds"] / args.size * 10_000,
        "optimize_s": optimize_s,
        "disk_mb": disk / 2**20,
        "build_peak_rss_mb": peak_rss_mb(),
    }


def child_serve(args: argparse.Namespace) -> dict[str, Any]:
    from retrieval.encoders import Encoders  # noqa: PLC0415 - child-only imports
    from retrieval.stores import open_store  # noqa: PLC0415
    from retrieval.types import QueryPlan  # noqa: PLC0415

    settings = _settings(args, args.layout, args.size)
    encoders = Encoders(settings)
    questions = read_questions(args.dataset, args.questions)
    mode = "muvera+colbert" if settings.muvera else settings.mode
    queries = [encoders.encode_query(q) for q in questions]
    before_open = rss_mb()
    start = time.perf_counter()
    store = open_store(settings, encoders.layout(settings))
    open_s = time.perf_counter() - start
    opened = rss_mb()

    def timed(plans: list[QueryPlan]) -> tuple[list[float], list[list[str]]]:
        for p in plans[:5]:  # warm-up, untimed
            store.query(p)
        ms, ids = [], []
        for p in plans:
            t = time.perf_counter()
            hits = store.query(p)
            ms.append((time.perf_counter() - t) * 1000)
            ids.append([h.id for h in hits])
        return ms, ids

    # the product's plan: dense by Qdrant's choice (scan or graph at settings.hnsw_ef)
    product = {"dense_exact": settings.dense_exact, "hnsw_ef": settings.hnsw_ef}
    search_ms, _ = timed([QueryPlan(mode, q, top_k=5, **product) for q in queries])
    scan_ms, _ = timed([QueryPlan(mode, q, top_k=5, dense_exact=True) for q in queries])
    exact_ms, exact_ids = timed([QueryPlan("dense", q, top_k=100) for q in queries])

    def graph(ef: int | None) -> tuple[list[float], float]:
        ms, ids = timed(
            [QueryPlan("dense", q, top_k=100, dense_exact=False, hnsw_ef=ef) for q in queries]
        )
        overlap = [
            len(set(a) & set(b)) / max(1, len(a)) for a, b in zip(exact_ids, ids, strict=True)
        ]
        return ms, float(np.mean(overlap))

    hnsw_ms, recall = graph(settings.hnsw_ef)
    _, recall_default_ef = graph(None)
    result = {
        "mode": mode,
        "points": store.count(),
        "open_s": open_s,
        "rss_before_open_mb": before_open,
        "rss_after_open_mb": opened,
        "search_ms": summary(search_ms),
        "search_dense_exact_ms": summary(scan_ms),
        "hnsw_ef": settings.hnsw_ef,
        "dense_hnsw_recall@100_engine_default_ef": recall_default_ef,
        "dense_exact_ms": summary(exact_ms),
        "dense_hnsw_ms": summary(hnsw_ms),
        "dense_hnsw_recall@100": recall,
        "peak_rss_mb": peak_rss_mb(),
        "steady_rss_mb": rss_mb(),
    }
    store.close()
    return result


# --- parent ----------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("dataset", type=Path)
    add_model_options(ap)
    ap.add_argument("--sizes", default=",".join(str(s) for s in PLAN))
    ap.add_argument("--layouts", default=None, help="override the per-size plan")
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--base-docs", type=int, default=None, help="cached documents replicated (all)")
    ap.add_argument("--work", type=Path, default=WORK)
    ap.add_argument("--keep", action="store_true", help="keep the stores (disk!)")
    ap.add_argument("--plot-only", action="store_true", help="redraw from --output's JSON")
    ap.add_argument("--child", choices=["build", "serve"])
    ap.add_argument("--size", type=int)
    ap.add_argument("--layout")
    ap.add_argument("--output", type=Path, default=RESULTS / "scale.json")
    args = ap.parse_args()

    if args.child:
        result = {"build": child_build, "serve": child_serve}[args.child](args)
        sys.stdout.write("\n" + json.dumps(result) + "\n")
        return

    if args.plot_only:
        report = json.loads(args.output.read_text())
        print_table(report)
        plot(report, args.output.with_suffix(".png"))
        return
    common = [str(args.dataset), "--models-dir", str(args.models_dir), f"--work={args.work}"]
    common += ["--offline"] if args.offline else []
    common += [f"--noise={args.noise}", f"--questions={args.questions}"]
    common += [f"--base-docs={args.base_docs}"] if args.base_docs else []
    report: dict[str, Any] = {"dataset": args.dataset.name, "noise": args.noise, "runs": {}}
    if args.output.exists():  # runs accumulate: sizes can be measured in separate invocations
        report["runs"] = json.loads(args.output.read_text()).get("runs", {})
    for size in (int(s) for s in args.sizes.split(",")):
        layouts = args.layouts.split(",") if args.layouts else PLAN[size]
        for layout in layouts:
            key = f"{size}/{layout}"
            folder = args.work / f"scale-{size}-{layout}"
            shutil.rmtree(folder, ignore_errors=True)
            console.print(f"[bold]{key}[/bold]: building…")
            extra = [f"--size={size}", f"--layout={layout}"]
            try:
                build = run_child("bench.scale", *common, *extra, "--child=build")
                console.print(f"  {build}")
                serve = run_child("bench.scale", *common, *extra, "--child=serve")
                console.print(f"  {serve}")
                report["runs"][key] = {"size": size, "layout": layout, **build, **serve}
            finally:
                if not args.keep:
                    shutil.rmtree(folder, ignore_errors=True)
            write_report(args.output, report)
    print_table(report)
    plot(report, args.output.with_suffix(".png"))
    console.print(f"Wrote {args.output} and {args.output.with_suffix('.png')}")


def plot(report: dict[str, Any], path: Path) -> None:
    """Search p50, serving RSS and disk per layout, one group of bars per store size."""
    import matplotlib  # noqa: PLC0415 - only the parent draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    runs = list(report["runs"].values())
    labels = [f"{r['size'] // 1000}k {r['layout']}" for r in runs]
    panels = (
        ("search p50 (ms)", [r["search_ms"]["p50"] for r in runs]),
        ("serving peak RSS (MB)", [r["peak_rss_mb"] for r in runs]),
        ("disk (MB)", [r["disk_mb"] for r in runs]),
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
    for ax, (title, values) in zip(axes, panels, strict=True):
        ax.barh(labels, values, color="#4477aa")
        ax.set_title(title, fontsize=10)
        ax.invert_yaxis()
        ax.tick_params(labelsize=8)
    fig.suptitle("bench/scale.py: cost by store size and layout", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def print_table(report: dict[str, Any]) -> None:
    table = Table(title=f"Cost by store size ({report['dataset']} vectors replicated)")
    cols = (
        "chunks",
        "layout",
        "search p50/p95 ms",
        "dense exact / HNSW p50 ms (recall)",
        "serving RSS peak MB",
        "disk MB",
        "open s",
        "upsert s/10k",
    )
    for c in cols:
        table.add_column(c, justify="left" if c in ("layout",) else "right")
    for r in report["runs"].values():
        table.add_row(
            f"{r['size']:,}",
            r["layout"],
            f"{r['search_ms']['p50']:.1f} / {r['search_ms']['p95']:.1f}",
            f"{r['dense_exact_ms']['p50']:.1f} / {r['dense_hnsw_ms']['p50']:.1f} "
            f"({r['dense_hnsw_recall@100']:.2f})",
            f"{r['peak_rss_mb']:.0f}",
            f"{r['disk_mb']:.0f}",
            f"{r['open_s']:.1f}",
            f"{r['upsert_s_per_10k']:.0f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
