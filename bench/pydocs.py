"""A documentation assistant over Debian's Python 3.11 docs: ingest cost and answer quality.

`apt-get install -y python3.11-doc` puts the HTML documentation (530 pages, ~64 MB) under
`/usr/share/doc/python3.11/html`. This benchmark ingests it (`--all`: every page) or a named
subset of it with the product's own `ingest` (HTML loader, chunking, encoders, embedded store;
default layout and settings), records pages/s, chunks, store size and RSS, then asks the 20
questions of
`bench/pydocs_questions.json` — each written with the page that answers it — in every mode
and reports hit@5 (the page among the top 5 passages) and MRR@10 (by the first passage of the
page).

    python -m bench.pydocs --offline                        # tutorial/ + faq/
    python -m bench.pydocs --offline --folders tutorial,faq,howto
    nice -n 19 python -m bench.pydocs --offline --all       # all 530 pages
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.harness import (
    RESULTS,
    add_model_options,
    peak_rss_mb,
    rss_mb,
    settings_from,
    write_report,
)
from retrieval.encoders import Encoders
from retrieval.ingest.pipeline import ingest
from retrieval.modes import MODES
from retrieval.retriever import MultiStageRetriever

console = Console(width=120)
DOCS = Path("/usr/share/doc/python3.11/html")
QUESTIONS = Path(__file__).with_name("pydocs_questions.json")


def score(ranked_sources: list[str], page: str) -> tuple[bool, float]:
    """(hit@5, reciprocal rank within 10) of `page` among the passages' sources, best first.

    >>> score(["x/a.html", "x/tutorial/venv.html"], "tutorial/venv.html")
    (True, 0.5)
    """
    ranks = [i for i, s in enumerate(ranked_sources[:10], 1) if s.endswith("/" + page)]
    return bool(ranks and ranks[0] <= 5), (1 / ranks[0] if ranks else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--docs", type=Path, default=DOCS)
    ap.add_argument("--folders", default="tutorial,faq", help="subset of the docs to ingest")
    ap.add_argument(
        "--all",
        action="store_true",
        help="ingest every HTML page of the docs (not the reST sources under _sources/)",
    )
    add_model_options(ap)
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache/msrag/bench-stores")
    ap.add_argument("--output", type=Path, default=RESULTS / "pydocs.json")
    args = ap.parse_args()
    if not args.docs.is_dir():
        raise SystemExit(f"{args.docs} not found: apt-get install -y python3.11-doc")

    if args.all:
        # the pages themselves: the folder also holds the reST sources as .txt, which ingest reads
        paths = sorted(args.docs.rglob("*.html"))
        subset = "all"
    else:
        paths = [args.docs / f for f in args.folders.split(",")]
        subset = args.folders
    pages = sum(1 for p in paths for _ in ([p] if p.is_file() else p.rglob("*.html")))
    data = args.work / "pydocs"
    shutil.rmtree(data, ignore_errors=True)
    settings = settings_from(args, data_dir=data, collection="pydocs")
    encoders = Encoders(settings)
    retriever = MultiStageRetriever.from_settings(settings, encoders=encoders)
    console.print(f"Ingesting {pages} pages ({subset})…")
    start = time.perf_counter()
    report_ingest = ingest(paths, settings, retriever.store, encoders, progress=False)
    seconds = time.perf_counter() - start
    ingest_rss = {"peak_rss_mb": peak_rss_mb(), "steady_rss_mb": rss_mb()}
    console.print(report_ingest.summary())

    questions = json.loads(QUESTIONS.read_text())["questions"]
    modes = [m for m in MODES if m != "muvera+colbert"]
    per_mode: dict[str, dict[str, Any]] = {}
    for mode in modes:
        hits, rr, rows = 0, 0.0, []
        for q in questions:
            found = retriever.search(q["question"], mode=mode, top_k=10).passages
            hit, recip = score([p.source for p in found], q["page"])
            hits += hit
            rr += recip
            top = found[0].source.rsplit("html/", 1)[-1] if found else None
            rows.append({"question": q["question"], "hit@5": hit, "rr": recip, "top1": top})
        per_mode[mode] = {
            "hit@5": hits / len(questions),
            "mrr@10": rr / len(questions),
            "questions": rows,
        }
    chunks = retriever.store.count()
    disk = retriever.store.disk_bytes() or 0
    retriever.close()
    report: dict[str, Any] = {
        "corpus": f"{args.docs} ({subset})",
        "pages": pages,
        "ingest": {
            "seconds": seconds,
            "pages_per_s": pages / seconds,
            "chunks": chunks,
            "chunks_per_s": report_ingest.chunks_per_s,
            "files": dict(report_ingest.counts()),
            "store_disk_mb": disk / 2**20,
            **ingest_rss,
        },
        "settings": settings.model_dump(
            mode="json",
            include={
                "encode_batch_size",
                "encode_max_tokens",
                "encode_window",
                "onnx_memory_arena",
                "colbert_datatype",
                "colbert_on_disk",
                "pool_factor",
                "chunk_tokens",
                "chunk_overlap",
                "prefetch_limit",
                "dense_exact",
            },
        ),
        "questions": len(questions),
        "modes": per_mode,
        "peak_rss_mb": peak_rss_mb(),
    }
    table = Table(title=f"Python docs ({subset}): {len(questions)} questions")
    for col in ("mode", "hit@5", "MRR@10"):
        table.add_column(col, justify="left" if col == "mode" else "right")
    for mode, r in per_mode.items():
        table.add_row(mode, f"{r['hit@5']:.2f}", f"{r['mrr@10']:.3f}")
    console.print(table)
    i = report["ingest"]
    console.print(
        f"{pages} pages → {chunks} chunks in {seconds:.0f} s ({i['pages_per_s']:.2f} pages/s), "
        f"store {i['store_disk_mb']:.0f} MB, ingest RSS peak {i['peak_rss_mb']:.0f} MB"
    )
    write_report(args.output, report)
    console.print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
