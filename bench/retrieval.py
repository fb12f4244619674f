"""Retrieval benchmark on SciFact (or any BEIR folder) with the configured models.

Prints a table and writes JSON: ingest throughput next to the encoders' raw onnxruntime throughput
on the same texts (one run, so the ratio is fair), per-mode latency split into query encoding and
search, nDCG@10 / Recall@100 / MRR@10 (ranx), store size on disk and process RSS.

    python -m bench.retrieval ../shared/data/scifact            # models from .env
    python -m bench.retrieval ../shared/data/scifact --offline  # build/use the offline models
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.harness import add_model_options, peak_rss_mb, rss_mb, settings_from, write_report
from msrag.settings import Settings
from retrieval.encoders import Encoders
from retrieval.ingest.evaluate import (
    corpus_chunks,
    evaluate_modes,
    load_beir,
    open_dataset_store,
)
from retrieval.ingest.pipeline import ingest_chunks
from retrieval.modes import MODE_SPECS, MODES
from retrieval.retriever import MultiStageRetriever
from retrieval.stores import open_store

console = Console()


def raw_encoder_throughput(encoders: Encoders, texts: list[str]) -> float:
    """Texts/s of tokenizer + onnxruntime session alone, same batches as the pipeline."""
    order = sorted(texts, key=len)
    start = time.perf_counter()
    for i in range(0, len(order), encoders.batch_size):
        encoders.transformer_pass(order[i : i + encoders.batch_size])
    return len(texts) / (time.perf_counter() - start)


def pipeline_throughput(settings: Settings, encoders: Encoders, chunks) -> dict[str, float]:
    """Encode + upsert (+ optimize) the sample into a scratch embedded store."""
    scratch = Path(tempfile.mkdtemp(prefix="msrag-bench-"))
    try:
        s = settings.model_copy(update={"data_dir": scratch, "qdrant_url": None})
        store = open_store(s, encoders.layout(s))
        start = time.perf_counter()
        ingest_chunks(chunks, store, encoders, progress=False)
        elapsed = time.perf_counter() - start
        store.close()
        return {"chunks_per_s": len(chunks) / elapsed, "seconds": elapsed}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("dataset", type=Path)
    add_model_options(ap)
    ap.add_argument("--sample", type=int, default=512, help="texts for the throughput ratio")
    ap.add_argument("--queries", type=int, default=None)
    ap.add_argument("--modes", nargs="*", default=None)
    ap.add_argument("--output", type=Path, default=Path("bench/results/retrieval.json"))
    args = ap.parse_args()

    settings = settings_from(args)
    dataset = load_beir(args.dataset)
    encoders = Encoders(settings)
    chunks = corpus_chunks(dataset)
    sample = chunks[: args.sample]

    console.print(
        f"Throughput on {len(sample)} {dataset.name} texts (batch {encoders.batch_size})…"
    )
    raw = raw_encoder_throughput(encoders, [c.text for c in sample])
    pipe = pipeline_throughput(settings, encoders, sample)
    ingest_stats: dict[str, float] = {}
    start = time.perf_counter()
    ds_settings, store = open_dataset_store(
        settings, dataset, encoders, on_ingest=ingest_stats.update
    )
    full_ingest_s = time.perf_counter() - start if ingest_stats else None
    retriever = MultiStageRetriever.from_settings(ds_settings, encoders=encoders, store=store)
    modes = args.modes or [m for m in MODES if settings.muvera or not MODE_SPECS[m].needs_muvera]
    results = evaluate_modes(retriever, dataset, modes, limit=args.queries)
    summary = {m: r.summary() for m, r in results.items()}
    report = {
        "dataset": dataset.name,
        "documents": len(dataset.corpus),
        "queries": len(next(iter(results.values())).encode_ms),
        "models": encoders.model_ids,
        "throughput": {
            "sample_texts": len(sample),
            "raw_encoder_texts_per_s": raw,
            "pipeline_chunks_per_s": pipe["chunks_per_s"],
            "pipeline_vs_raw": pipe["chunks_per_s"] / raw,
        },
        "full_ingest": (
            {"seconds": full_ingest_s, "docs_per_s": len(chunks) / full_ingest_s, **ingest_stats}
            if full_ingest_s
            else "reused an existing collection"
        ),
        "store": {"points": store.count(), "disk_mb": (store.disk_bytes() or 0) / 2**20},
        "rss_mb": rss_mb(),
        "peak_rss_mb": peak_rss_mb(),
        "modes": summary,
    }
    retriever.close()

    table = Table(title=f"{dataset.name}: {report['queries']} queries, {report['documents']} docs")
    for col in (
        "mode",
        "nDCG@10",
        "R@100",
        "MRR@10",
        "encode p50",
        "encode p95",
        "search p50",
        "search p95",
        "total p50",
        "total p95",
    ):
        table.add_column(col, justify="left" if col == "mode" else "right")
    for m, s in summary.items():
        table.add_row(
            m,
            f"{s['ndcg@10']:.3f}",
            f"{s['recall@100']:.3f}",
            f"{s['mrr@10']:.3f}",
            *(
                f"{s[k]:.1f}"
                for k in (
                    "encode_p50_ms",
                    "encode_p95_ms",
                    "search_p50_ms",
                    "search_p95_ms",
                    "p50_ms",
                    "p95_ms",
                )
            ),
        )
    console.print(table)
    t = report["throughput"]
    console.print(
        f"Ingest pipeline {t['pipeline_chunks_per_s']:.1f} chunks/s vs raw encoders "
        f"{t['raw_encoder_texts_per_s']:.1f} texts/s → ratio {t['pipeline_vs_raw']:.2f}"
    )
    console.print(f"Full ingest: {report['full_ingest']}")
    console.print(
        f"Store: {report['store']['points']} points, {report['store']['disk_mb']:.0f} MB on "
        f"disk; RSS {report['rss_mb']:.0f} MB (peak {report['peak_rss_mb']:.0f} MB)"
    )
    write_report(args.output, report)
    console.print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
