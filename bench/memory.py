"""Memory of ingest and of a serving process: peak and steady RSS, each in a fresh process.

- **ingest**: encode + pool + upsert a SciFact sample into a scratch embedded store, as before
  this change (character-sorted batches of 32, onnxruntime's CPU memory arena on) and with the
  current defaults (token-sorted batches under `MSRAG_ENCODE_MAX_TOKENS`, arena off), plus the
  two mixed configurations, so each lever's share shows. The sample holds the corpus's 32
  longest documents (the batch that sets the peak) and a seeded random rest.
- **serving**: one process opens a SciFact-sized collection (5,183 points, built once by
  `bench.scale` from the cached real vectors of `bench.optimizations`; no encoding) with the real
  encoders and answers 100 SciFact test questions as the assistant asks them (the default mode,
  top 5, real query encoding, the refusal check's stored-MaxSim read-back), on the default
  layout (token vectors on disk) and on the in-RAM layout that was the default before; arena on
  and off on the default.

Peak = the process's highest RSS (`ru_maxrss`); steady = RSS at the end. docs/s is measured in
each child; children run one after another, so throughput ratios carry the machine's load.

    python -m bench.memory /work/shared/data/scifact --offline --docs 96
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.harness import (
    RESULTS,
    add_model_options,
    peak_rss_mb,
    read_questions,
    rss_mb,
    rss_parts_mb,
    run_child,
    settings_from,
    summary,
    write_report,
)

console = Console(width=120)
SERVING_STORE = Path.home() / ".cache" / "msrag" / "bench-stores"
SCIFACT_SIZE = 5183  # SciFact's documents: the serving store has exactly as many points
# serving configuration → (bench.scale layout of its store, onnxruntime arena)
SERVING_CONFIGS = {
    "default layout (token vectors on disk), arena on": ("default", "on"),
    "default layout, arena off": ("default", "off"),
    "token vectors in RAM (the default before), arena on": ("inram", "on"),
}
INGEST_CONFIGS = {
    # name: (batching, arena, token budget)
    "before: character batches of 32, arena on": ("before", True, 4096),
    "character batches of 32, arena off": ("before", False, 4096),
    "token batches, budget 8192, arena on": ("after", True, 8192),
    "token batches, budget 8192, arena off": ("after", False, 8192),
    "now: token batches, budget 4096, arena on": ("after", True, 4096),
}


def _sample(chunks: list[Any], docs: int, seed: int) -> list[Any]:
    longest = sorted(chunks, key=lambda c: len(c.text))[-32:]
    rest = [c for c in chunks if c not in longest]
    return longest + random.Random(seed).sample(rest, max(0, docs - len(longest)))


def child_ingest(args: argparse.Namespace) -> dict[str, Any]:
    from bench.ingest_speed import run_pipeline  # noqa: PLC0415 - child-only imports
    from retrieval.encoders import Encoders  # noqa: PLC0415
    from retrieval.ingest.evaluate import corpus_chunks, load_beir  # noqa: PLC0415

    settings = settings_from(args, onnx_memory_arena=args.arena == "on")
    chunks = _sample(corpus_chunks(load_beir(args.dataset)), args.docs, args.seed)
    encoders = Encoders(settings)
    loaded = rss_mb()
    result = run_pipeline(settings, encoders, chunks, before=args.batching == "before")
    return {
        "docs": len(chunks),
        "docs_per_s": result["docs_per_s"],
        "rss_models_loaded_mb": loaded,
        "peak_rss_mb": peak_rss_mb(),
        "steady_rss_mb": rss_mb(),
    }


def child_serve(args: argparse.Namespace) -> dict[str, Any]:
    from retrieval.encoders import Encoders  # noqa: PLC0415
    from retrieval.retriever import MultiStageRetriever  # noqa: PLC0415

    settings = settings_from(
        args,
        onnx_memory_arena=args.arena == "on",
        data_dir=args.store.parent,
        collection=args.store.name,
    )
    questions = read_questions(args.dataset, args.questions)
    start = time.perf_counter()
    retriever = MultiStageRetriever.from_settings(settings, encoders=Encoders(settings))
    opened = rss_mb()
    open_s = time.perf_counter() - start
    latencies = []
    for q in questions:
        latencies.append(retriever.search(q, top_k=5, relevance=True).timings["total_ms"])
    result = {
        "mode": retriever.mode,
        "colbert_on_disk": retriever.store.layout.colbert_on_disk,
        "questions": len(questions),
        "points": retriever.store.count(),
        "open_s": open_s,
        "rss_after_open_mb": opened,
        "peak_rss_mb": peak_rss_mb(),
        "steady_rss_mb": rss_mb(),
        **rss_parts_mb(),
        "total_ms": summary(latencies),
    }
    retriever.close()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("dataset", type=Path)
    add_model_options(ap)
    ap.add_argument("--docs", type=int, default=96)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--store", type=Path, default=None, help="serve this store (one run)")
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--child", choices=["ingest", "serve"])
    ap.add_argument("--batching", choices=["before", "after"], default="after")
    ap.add_argument("--arena", choices=["on", "off"], default="off")
    ap.add_argument("--output", type=Path, default=RESULTS / "memory.json")
    args = ap.parse_args()

    if args.child:
        result = {"ingest": child_ingest, "serve": child_serve}[args.child](args)
        sys.stdout.write("\n" + json.dumps(result) + "\n")
        return

    common = [str(args.dataset), "--models-dir", str(args.models_dir)]
    common += ["--offline"] if args.offline else []
    report: dict[str, Any] = {"dataset": args.dataset.name, "ingest": {}, "serving": {}}
    if args.skip_ingest and args.output.exists():  # keep the ingest rows measured before
        report["ingest"] = json.loads(args.output.read_text()).get("ingest", {})
    if not args.skip_ingest:
        for name, (batching, arena, budget) in INGEST_CONFIGS.items():
            console.print(f"ingest: {name}…")
            report["ingest"][name] = run_child(
                "bench.memory",
                *common,
                "--child=ingest",
                f"--batching={batching}",
                f"--arena={'on' if arena else 'off'}",
                f"--docs={args.docs}",
                f"--seed={args.seed}",
                env={"MSRAG_ENCODE_MAX_TOKENS": str(budget)},
            )
            console.print(f"  {report['ingest'][name]}")
    for name, (layout, arena) in SERVING_CONFIGS.items():
        store = args.store or SERVING_STORE / f"scale-{SCIFACT_SIZE}-{layout}"
        if not (store / "msrag-layout.json").exists():
            console.print(f"Building the serving store {store} from cached vectors…")
            shutil.rmtree(store, ignore_errors=True)
            report.setdefault("serving_store_build", {})[layout] = run_child(
                "bench.scale",
                *common,
                f"--work={store.parent}",
                f"--size={SCIFACT_SIZE}",
                f"--layout={layout}",
                "--base-docs=5183",  # all of SciFact: the store IS SciFact
                "--child=build",
            )
        console.print(f"serving: {name}…")
        report["serving"][name] = run_child(
            "bench.memory",
            *common,
            "--child=serve",
            f"--arena={arena}",
            f"--store={store}",
            f"--questions={args.questions}",
        )
        console.print(f"  {report['serving'][name]}")

    table = Table(title="Peak / steady RSS (MB), each in a fresh process")
    for col in ("process", "configuration", "peak", "steady", "throughput"):
        table.add_column(col, justify="left" if col in ("process", "configuration") else "right")
    for name, r in report["ingest"].items():
        table.add_row(
            f"ingest {r['docs']} docs",
            name,
            f"{r['peak_rss_mb']:.0f}",
            f"{r['steady_rss_mb']:.0f}",
            f"{r['docs_per_s']:.2f} docs/s",
        )
    for name, r in report["serving"].items():
        table.add_row(
            f"serve {r['questions']} questions ({r['points']} points)",
            name,
            f"{r['peak_rss_mb']:.0f}",
            f"{r['steady_rss_mb']:.0f}",
            f"p50 {r['total_ms']['p50']:.1f} ms",
        )
    console.print(table)
    write_report(args.output, report)
    console.print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
