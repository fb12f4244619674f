"""The multi-vector optimizations, each measured against the float32 baseline in one run.

Variants (each a setting, see `VARIANTS`): ColBERT float16 / uint8 storage, int8 scalar
quantization with rescoring (in RAM, and with the originals on disk), token pooling (factor 2 and
3, alone and with float16), MUVERA prefetch → exact MaxSim, on-disk multivectors, dense int8.
For each: vector bytes per chunk in RAM (Qdrant's storage model: originals unless on disk, plus
quantized copies) and on disk (the shard folder, measured), search latency p50/p95, nDCG@10 and
Recall@100, and the difference from the baseline in the same mode.

The corpus and the queries are encoded ONCE with the configured models and cached outside the
repository (`--cache`, keyed by model ids and dataset); every variant's embedded store is then
built from the cached vectors (index-time options applied, upsert, optimize) and queried with the
cached query vectors, so the variants differ only in what they store. Query encoding time is
measured once and reported apart; MUVERA's query-side encoding is computed live and counted.

    python -m bench.optimizations ../shared/data/scifact --offline                  # full run
    python -m bench.optimizations ../shared/data/scifact --offline --docs 1000     # quick subset
    python -m bench.optimizations DATA --offline --variants baseline,pool2         # some variants

Cost on 2 cores: encoding ~0.1 s per document on a quiet machine, ~1 s on a busy one (SciFact:
~10 min once, then cached; 2.4 GB of float32 token vectors), and per variant an upsert + optimize
and 300 queries per mode. A 1,000-document subset took 20–110 s per variant on a busy machine;
the full corpus takes about five times that. Latencies are only comparable within a run on an
otherwise idle machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.harness import add_model_options, settings_from
from msrag.settings import Settings
from retrieval.encoders import Encoders
from retrieval.ingest.evaluate import BeirDataset, corpus_chunks, evaluate_modes, load_beir
from retrieval.ingest.pipeline import ingest_chunks
from retrieval.postprocess import apply_index_time_options, muvera_dim, query_muvera
from retrieval.retriever import MultiStageRetriever
from retrieval.schema import Layout
from retrieval.stores import open_store
from retrieval.types import Chunk, ChunkVectors, SparseVector

console = Console()
COLBERT_MODES = ("hybrid+colbert", "hybrid+colbert+rrf", "hybrid+colbert+dbsf")
_DTYPE_BYTES = {"float32": 4, "float16": 2, "uint8": 1}
_CACHE_PART = 256  # documents per cache file: an interrupted encoding resumes from the last part


@dataclass(frozen=True)
class Variant:
    """One configuration to measure: settings overrides and the modes that show its effect."""

    name: str
    overrides: dict[str, Any] = field(default_factory=dict)
    modes: tuple[str, ...] = COLBERT_MODES
    compare_to: dict[str, str] = field(default_factory=dict)  # mode → baseline mode, if not same


VARIANTS: tuple[Variant, ...] = (
    Variant("baseline", {}, ("bm25", "dense", "hybrid") + COLBERT_MODES),
    Variant("colbert-float16", {"colbert_datatype": "float16"}),
    Variant("colbert-uint8", {"colbert_datatype": "uint8"}),
    Variant("colbert-int8", {"colbert_quantization": "int8"}),
    Variant("colbert-int8-ondisk", {"colbert_quantization": "int8", "colbert_on_disk": True}),
    Variant("pool2", {"pool_factor": 2}),
    Variant("pool3", {"pool_factor": 3}),
    Variant("pool2-float16", {"pool_factor": 2, "colbert_datatype": "float16"}),
    Variant("pool3-float16", {"pool_factor": 3, "colbert_datatype": "float16"}),
    # Issue 14's storage target: 25% of the default's token vectors (pool 3, float16) is pool 6
    # in uint8 (1/6 × 1/4 of float32 against 1/3 × 1/2).
    Variant("pool3-uint8", {"pool_factor": 3, "colbert_datatype": "uint8"}),
    Variant("pool4-uint8", {"pool_factor": 4, "colbert_datatype": "uint8"}),
    Variant("pool6-uint8", {"pool_factor": 6, "colbert_datatype": "uint8"}),
    Variant("muvera", {"muvera": True}, ("muvera+colbert",), {"muvera+colbert": "hybrid+colbert"}),
    Variant("colbert-ondisk", {"colbert_on_disk": True}),
    Variant(
        "dense-int8", {"dense_quantization": "int8"}, ("dense", "hybrid", "hybrid+colbert+rrf")
    ),
)


# --- encoding once ---------------------------------------------------------------------------
@dataclass
class Encoded:
    """Real encodings of the corpus subset and its queries, replayed to every variant."""

    docs: dict[str, ChunkVectors]  # doc id → vectors
    queries: dict[str, ChunkVectors]  # query id → vectors
    query_encode_ms: list[float]
    model_ids: dict[str, str]
    dense_dim: int
    colbert_dim: int


def cache_dir(root: Path, settings: Settings, encoders: Encoders, dataset: BeirDataset) -> Path:
    """One folder per (models, dataset): a changed model never reuses stale vectors."""
    key = json.dumps(
        {
            "models": encoders.model_ids,
            "paths": [settings.dense_model, settings.sparse_model, settings.colbert_model],
            "dataset": [dataset.name, dataset.fingerprint],
        },
        sort_keys=True,
    )
    return root / f"{dataset.name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _pack(v: ChunkVectors) -> tuple[Any, ...]:
    assert v.sparse is not None
    return (
        v.dense,
        np.asarray(v.sparse.indices, np.int64),
        np.asarray(v.sparse.values, np.float32),
        v.colbert,
    )


def _unpack(t: tuple[Any, ...]) -> ChunkVectors:
    dense, idx, val, colbert = t
    return ChunkVectors(
        dense=dense, sparse=SparseVector(idx.tolist(), val.tolist()), colbert=colbert
    )


def cached_documents(folder: Path) -> Iterator[dict[str, ChunkVectors]]:
    """The cached document vectors, one part file (≤ 256 documents) at a time: doc id → vectors.
    Streaming keeps a reader's memory at one part, not the whole corpus."""
    for part in sorted(folder.glob("docs-*.pkl")):
        with part.open("rb") as fh:
            yield {k: _unpack(v) for k, v in pickle.load(fh).items()}


def encode_once(
    dataset: BeirDataset, chunks: Sequence[Chunk], encoders: Encoders, folder: Path
) -> Encoded:
    """Load cached document/query vectors; encode (and cache) only what is missing."""
    folder.mkdir(parents=True, exist_ok=True)
    docs: dict[str, ChunkVectors] = {}
    for part in cached_documents(folder):
        docs.update(part)
    wanted = {c.doc_id for c in chunks}
    missing = [c for c in chunks if c.doc_id not in docs]
    console.print(
        f"Document vectors: {len(wanted) - len(missing)} cached in {folder}, "
        f"{len(missing)} to encode."
    )
    if missing:
        start = time.perf_counter()
        with Progress(console=console) as bar:
            task = bar.add_task("Encoding documents", total=len(missing))
            for offset in range(0, len(missing), _CACHE_PART):
                part = missing[offset : offset + _CACHE_PART]
                vectors = encoders.encode_documents([c.text for c in part])
                new = {c.doc_id: v for c, v in zip(part, vectors, strict=True)}
                docs.update(new)
                name = folder / f"docs-{time.time_ns()}.pkl"
                tmp = name.with_suffix(".tmp")
                with tmp.open("wb") as fh:
                    pickle.dump({k: _pack(v) for k, v in new.items()}, fh, protocol=5)
                tmp.replace(name)  # a part file is complete or absent
                bar.advance(task, len(part))
        console.print(f"Encoded {len(missing)} documents in {time.perf_counter() - start:.0f} s.")

    query_file = folder / "queries.pkl"
    cached_q: dict[str, tuple[tuple[Any, ...], float]] = {}
    if query_file.exists():
        with query_file.open("rb") as fh:
            cached_q = pickle.load(fh)
    todo = [q for q in dataset.queries if q not in cached_q]
    if todo:
        encoders.encode_query("warm-up")
        for qid in todo:
            start = time.perf_counter()
            v = encoders.encode_query(dataset.queries[qid])
            cached_q[qid] = (_pack(v), (time.perf_counter() - start) * 1000)
        with query_file.with_suffix(".tmp").open("wb") as fh:
            pickle.dump(cached_q, fh, protocol=5)
        query_file.with_suffix(".tmp").replace(query_file)
    return Encoded(
        docs={d: docs[d] for d in wanted},
        queries={q: _unpack(cached_q[q][0]) for q in dataset.queries},
        query_encode_ms=[cached_q[q][1] for q in dataset.queries],
        model_ids=encoders.model_ids,
        dense_dim=encoders.dense_dim,
        colbert_dim=encoders.colbert_dim,
    )


class Replay:
    """Serves the cached real encodings to ingest and the retriever, with the variant's
    index-time options applied exactly as the encoders apply them (pooling, MUVERA)."""

    def __init__(
        self, encoded: Encoded, chunks: Sequence[Chunk], queries: dict[str, str], settings: Settings
    ) -> None:
        self._by_text = {c.text: encoded.docs[c.doc_id] for c in chunks}
        self._queries = {text: encoded.queries[qid] for qid, text in queries.items()}
        self.settings = settings
        self.batch_size = settings.encode_batch_size
        self.postprocess_s = 0.0
        self.token_vectors = 0

    def encode_documents(self, texts: Sequence[str]) -> list[ChunkVectors]:
        start = time.perf_counter()
        out = [apply_index_time_options(self._by_text[t], self.settings) for t in texts]
        self.postprocess_s += time.perf_counter() - start
        self.token_vectors += sum(len(v.colbert) for v in out if v.colbert is not None)
        return out

    def encode_query(
        self,
        text: str,
        *,
        dense: bool = True,
        sparse: bool = True,
        colbert: bool = True,
        muvera: bool = True,
    ) -> ChunkVectors:
        v = self._queries[text]
        v = ChunkVectors(
            dense=v.dense if dense else None,
            sparse=v.sparse if sparse else None,
            colbert=v.colbert if colbert else None,
        )
        return query_muvera(v, self.settings) if muvera else v


# --- subset -----------------------------------------------------------------------------------
def subset(dataset: BeirDataset, docs: int | None, queries: int | None) -> BeirDataset:
    """The first `queries` queries and `docs` documents: the queries' judged documents first,
    then the rest in corpus order; queries whose judged documents do not all fit are dropped."""
    qids = list(dataset.queries)[: queries or None]
    if docs is None or docs >= len(dataset.corpus):
        keep_docs = list(dataset.corpus)
    else:
        keep: dict[str, None] = {}
        for q in qids:
            judged = [d for d in dataset.qrels[q] if d in dataset.corpus]
            if len(keep) + len([d for d in judged if d not in keep]) <= docs:
                keep.update(dict.fromkeys(judged))
        for d in dataset.corpus:
            if len(keep) >= docs:
                break
            keep.setdefault(d, None)
        keep_docs = list(keep)
    kept = set(keep_docs)
    qids = [q for q in qids if all(d in kept for d in dataset.qrels[q] if d in dataset.corpus)]
    return replace(
        dataset,
        corpus={d: dataset.corpus[d] for d in keep_docs},
        queries={q: dataset.queries[q] for q in qids},
        qrels={q: dataset.qrels[q] for q in qids},
    )


# --- one variant ------------------------------------------------------------------------------
def vector_bytes(
    settings: Settings, encoded: Encoded, token_vectors: int, points: int, sparse_nnz: int
) -> dict[str, float]:
    """Per-chunk vector bytes by Qdrant's storage model (RAM: originals unless on disk, plus
    quantized copies, which are always in RAM; disk: originals plus quantized copies)."""
    tokens = token_vectors / points
    colbert = tokens * encoded.colbert_dim * _DTYPE_BYTES[settings.colbert_datatype]
    colbert_q = tokens * encoded.colbert_dim if settings.colbert_quantization == "int8" else 0
    dense = encoded.dense_dim * 4
    dense_q = encoded.dense_dim if settings.dense_quantization == "int8" else 0
    muvera = (muvera_dim(settings, encoded.colbert_dim) or 0) * 4
    sparse = sparse_nnz / points * 8
    colbert_ram = (0 if settings.colbert_on_disk else colbert) + colbert_q
    return {
        "colbert_tokens_per_chunk": tokens,
        "colbert_ram_bytes": colbert_ram,
        "colbert_disk_bytes": colbert + colbert_q,
        "ram_bytes": colbert_ram + dense + dense_q + muvera + sparse,
        "dense_ram_bytes": dense + dense_q,
        "muvera_bytes": muvera,
    }


def rss_kb() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile"):
            out[key] = int(value.split()[0])
    return out


def run_variant(
    variant: Variant,
    base: Settings,
    dataset: BeirDataset,
    chunks: Sequence[Chunk],
    encoded: Encoded,
    work: Path,
    warmup: int,
) -> dict[str, Any]:
    settings = base.model_copy(
        update={
            **variant.overrides,
            "data_dir": work / variant.name,
            "collection": "bench",
            "qdrant_url": None,
        }
    )
    layout = Layout.from_settings(
        settings,
        model_ids=encoded.model_ids,
        dense_dim=encoded.dense_dim,
        colbert_dim=encoded.colbert_dim,
        muvera_dim=muvera_dim(settings, encoded.colbert_dim),
    )
    replay = Replay(encoded, chunks, dataset.queries, settings)
    store = open_store(settings, layout)
    start = time.perf_counter()
    ingest_chunks(chunks, store, replay, progress=False)
    upserted = time.perf_counter()
    store.optimize()
    built = time.perf_counter()
    store.close()

    before = rss_kb()
    store = open_store(settings, layout)  # reopened: what a deployment serves from
    points = store.count()
    disk = store.disk_bytes() or 0
    retriever = MultiStageRetriever(
        store,
        replay,  # type: ignore[arg-type]
        prefetch_limit=settings.prefetch_limit,
        rrf_k=settings.rrf_k,
    )
    for mode in variant.modes:  # first queries pay for page faults and lazy initialisation
        for text in list(dataset.queries.values())[:warmup]:
            retriever.search(text, mode=mode, top_k=100)
    results = evaluate_modes(retriever, dataset, variant.modes, depth=100)
    after = rss_kb()
    retriever.close()
    shutil.rmtree(work / variant.name, ignore_errors=True)

    nnz = sum(len(encoded.docs[c.doc_id].sparse.indices) for c in chunks)  # type: ignore[union-attr]
    return {
        "settings": variant.overrides,
        "points": points,
        "build": {
            "postprocess_ms_per_chunk": replay.postprocess_s / len(chunks) * 1000,
            "upsert_s": upserted - start,
            "optimize_s": built - upserted,
        },
        "bytes_per_chunk": {
            **vector_bytes(settings, encoded, replay.token_vectors, len(chunks), nnz),
            "disk_bytes": disk / max(points, 1),
        },
        "rss_delta_mb": {k: (after[k] - before[k]) / 1024 for k in before},
        "modes": {m: r.summary() for m, r in results.items()},
    }


# --- report -----------------------------------------------------------------------------------
def compare(report: dict[str, Any]) -> None:
    """Add Δ nDCG@10 / Recall@100 / latency / bytes against the baseline's matching mode."""
    base = report["variants"].get("baseline")
    if base is None:
        return
    for name, res in report["variants"].items():
        variant = next(v for v in VARIANTS if v.name == name)
        b_bytes = base["bytes_per_chunk"]
        res["vs_baseline"] = {
            "colbert_ram_ratio": res["bytes_per_chunk"]["colbert_ram_bytes"]
            / b_bytes["colbert_ram_bytes"],
            "colbert_disk_ratio": res["bytes_per_chunk"]["colbert_disk_bytes"]
            / b_bytes["colbert_disk_bytes"],
            "ram_ratio": res["bytes_per_chunk"]["ram_bytes"] / b_bytes["ram_bytes"],
            "disk_ratio": res["bytes_per_chunk"]["disk_bytes"] / b_bytes["disk_bytes"],
        }
        for mode, s in res["modes"].items():
            ref = base["modes"].get(variant.compare_to.get(mode, mode))
            if ref is None:
                continue
            s["baseline_mode"] = variant.compare_to.get(mode, mode)
            s["delta_ndcg@10"] = s["ndcg@10"] - ref["ndcg@10"]
            s["delta_recall@100"] = s["recall@100"] - ref["recall@100"]
            s["search_p50_ratio"] = s["search_p50_ms"] / ref["search_p50_ms"]


def print_table(report: dict[str, Any]) -> None:
    table = Table(
        title=f"{report['dataset']}: {report['documents']} docs, {report['queries']} queries "
        f"(query encoding p50 {report['query_encode_p50_ms']:.1f} ms, not included below)"
    )
    columns = (
        "variant",
        "mode",
        "nDCG@10",
        "Δ",
        "R@100",
        "Δ",
        "search p50",
        "p95",
        "tokens",
        "colbert RAM",
        "RAM/chunk",
        "disk/chunk",
    )
    for col in columns:
        table.add_column(col, justify="left" if col in ("variant", "mode") else "right")
    for name, res in report["variants"].items():
        b = res["bytes_per_chunk"]
        vs = res.get("vs_baseline", {})
        for i, (mode, s) in enumerate(res["modes"].items()):
            table.add_row(
                name if i == 0 else "",
                mode,
                f"{s['ndcg@10']:.3f}",
                f"{s['delta_ndcg@10']:+.3f}" if "delta_ndcg@10" in s else "",
                f"{s['recall@100']:.3f}",
                f"{s['delta_recall@100']:+.3f}" if "delta_recall@100" in s else "",
                f"{s['search_p50_ms']:.1f}",
                f"{s['search_p95_ms']:.1f}",
                f"{b['colbert_tokens_per_chunk']:.0f}" if i == 0 else "",
                (
                    f"{b['colbert_ram_bytes'] / 1024:.0f} KB"
                    + (f" ({vs['colbert_ram_ratio']:.0%})" if vs else "")
                )
                if i == 0
                else "",
                f"{b['ram_bytes'] / 1024:.0f} KB" if i == 0 else "",
                (f"{b['disk_bytes'] / 1024:.0f} KB" + (f" ({vs['disk_ratio']:.0%})" if vs else ""))
                if i == 0
                else "",
            )
    # Wide enough for every column when the output is a file or a pipe (rich assumes 80).
    Console(width=max(console.width, 180)).print(table)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("dataset", type=Path, nargs="?", default=Path("../shared/data/scifact"))
    ap.add_argument("--split", default="test")
    add_model_options(ap)
    ap.add_argument("--docs", type=int, default=None, help="documents in the subset (all)")
    ap.add_argument("--queries", type=int, default=None, help="queries (all with judgments)")
    ap.add_argument(
        "--variants",
        default=None,
        help=f"comma-separated subset of: {', '.join(v.name for v in VARIANTS)}",
    )
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache/msrag/bench-vectors",
        help="where encoded vectors are cached (outside the repository)",
    )
    ap.add_argument("--work", type=Path, default=None, help="scratch folder for the stores")
    ap.add_argument("--warmup", type=int, default=5, help="untimed queries per mode first")
    ap.add_argument("--output", type=Path, default=Path("bench/results/optimizations.json"))
    args = ap.parse_args()

    # Every variant starts from the unoptimised layout (float32, unpooled), not from the defaults.
    settings = settings_from(
        args,
        **{
            "colbert_datatype": "float32",
            "colbert_quantization": "none",
            "colbert_on_disk": False,
            "dense_quantization": "none",
            "pool_factor": 1,
            "muvera": False,
        },
    )
    chosen = VARIANTS
    if args.variants:
        names = args.variants.split(",")
        unknown = set(names) - {v.name for v in VARIANTS}
        if unknown:
            ap.error(
                f"unknown variants {sorted(unknown)}; choose from "
                f"{', '.join(v.name for v in VARIANTS)}"
            )
        chosen = tuple(v for v in VARIANTS if v.name in names)

    full = load_beir(args.dataset, args.split)
    dataset = subset(full, args.docs, args.queries)
    chunks = corpus_chunks(dataset)
    encoders = Encoders(settings)
    encoded = encode_once(
        dataset, chunks, encoders, cache_dir(args.cache, settings, encoders, full)
    )
    del encoders

    work = args.work or Path(tempfile.mkdtemp(prefix="msrag-opt-"))
    report: dict[str, Any] = {
        "dataset": dataset.name,
        "split": args.split,
        "documents": len(dataset.corpus),
        "queries": len(dataset.queries),
        "models": encoded.model_ids,
        "query_encode_p50_ms": statistics.median(encoded.query_encode_ms),
        "query_encode_p95_ms": float(np.percentile(encoded.query_encode_ms, 95)),
        "notes": {
            "bytes_per_chunk": "ram_bytes/colbert_*: vector bytes by Qdrant's storage model "
            "(estimated from the stored token counts); disk_bytes: the shard folder, measured.",
            "latency": "search only, on cached query vectors (+ live MUVERA query encoding); "
            "query encoding is query_encode_p50_ms.",
            "rss_delta_mb": "process RSS change from reopening the store to the end of the "
            "queries: informational (mmapped pages are counted only once touched).",
        },
        "variants": {},
    }
    try:
        for variant in chosen:
            console.print(f"[bold]{variant.name}[/bold] {variant.overrides or ''}")
            started = time.perf_counter()
            report["variants"][variant.name] = run_variant(
                variant, settings, dataset, chunks, encoded, work, args.warmup
            )
            console.print(f"  done in {time.perf_counter() - started:.0f} s")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    compare(report)
    print_table(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    console.print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
