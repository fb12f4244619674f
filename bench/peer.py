"""Our retrieval modes against stock LlamaIndex hybrid search, side by side in one run.

The peer is `bench/peer_llamaindex.py`: `QdrantVectorStore(enable_hybrid=True)` on qdrant-client's
local mode, `similarity_top_k=100`, `sparse_top_k=100`, the same local MiniLM dense model and the
same local BM25 folder (given through its `sparse_doc_fn` / `sparse_query_fn` hooks, because the
stock sparse default downloads a model). Its stored dense and sparse vectors are checked equal to
ours.

Measured, each system in its own process (so peak RSS is each one's own):
- ingest CPU: each system's whole ingest pipeline (its own encoding included: ours encodes
  dense + token vectors in one MiniLM pass, pools and upserts; the peer runs `VectorStoreIndex`
  with `FastEmbedEmbedding`) on the same sample of documents, CPU-seconds per document × corpus
  size. Both full stores are then built from the shared vector cache of
  `bench/optimizations.py` (ours: pooling + upsert + optimize; the peer: `VectorStoreIndex` over
  nodes carrying our cached dense vectors, its own sparse encoding and upserts), so nothing
  re-encodes the corpus on a shared 2-core machine. The peer's own dense vectors (sample) and
  its stored sparse vectors are checked equal to ours;
- per query, the two processes take turns (ours, then the peer; the order flips every query),
  each timing its own retrieve call (query encoding + search + fusion);
- quality with the repository's scoring (`retrieval.ingest.evaluate.score_run`): nDCG@10,
  Recall@100, MRR@10, and a paired bootstrap 95% CI of each of our modes minus the peer (nDCG@10);
- store size on disk.

    python -m bench.peer ../shared/data/scifact --offline            # JSON: bench/results/peer.json
    python -m bench.peer ../shared/data/scifact --offline --docs 1280 --sample 96   # a subset

`--docs N` keeps the first N documents (corpus order, the order the vector cache is filled in)
and the test queries whose judged documents all lie among them. Each step's measurements are
kept next to the stores (under ~/.cache/msrag/bench-peer) and reused; delete them to measure
again.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.harness import (
    DEFAULT_MODELS_DIR,
    RESULTS,
    paired_bootstrap,
    peak_rss_mb,
    rss_mb,
    summary,
    write_report,
)
from bench.optimizations import cache_dir, cached_documents
from msrag.settings import Settings
from retrieval.encoders import Encoders
from retrieval.ingest.evaluate import (
    BeirDataset,
    corpus_chunks,
    load_beir,
    per_query_scores,
    score_run,
)
from retrieval.ingest.offline import assemble_offline_models
from retrieval.ingest.pipeline import ingest_chunks
from retrieval.postprocess import apply_index_time_options
from retrieval.retriever import MultiStageRetriever
from retrieval.stores import open_store
from retrieval.types import Chunk

console = Console()

INGEST_FILE = "ingest.json"
OUR_MODES: tuple[str, ...] = (
    "hybrid",
    "hybrid+colbert",
    "hybrid+colbert+rrf",
    "hybrid+colbert+dbsf",
)
# The refusal check of a fused mode reads the MaxSim of the passages sent back from their stored
# vectors: timed at a chat's depth (5 passages), with and without that read-back.
REFUSAL_PROBE = "hybrid+colbert+dbsf"
PEER = "llamaindex-hybrid"
DEPTH = 100
DEFAULT_WORK = Path.home() / ".cache/msrag/bench-peer/ours"


def load_subset(dataset_dir: Path, docs: int | None) -> BeirDataset:
    """The dataset, or its first `docs` documents (corpus order, the order of the vector
    cache's parts) with the queries whose judged documents all lie among them."""
    full = load_beir(dataset_dir)
    if not docs or docs >= len(full.corpus):
        return full
    keep = dict(list(full.corpus.items())[:docs])
    qids = [q for q, judged in full.qrels.items() if all(d in keep for d in judged)]
    return replace(
        full,
        corpus=keep,
        queries={q: full.queries[q] for q in qids},
        qrels={q: full.qrels[q] for q in qids},
    )


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _our_settings(models_dir: Path, data_dir: Path, **update: Any) -> Settings:
    """The shipped layout defaults (pooling, datatype) with the offline models."""
    values: dict[str, Any] = {
        **assemble_offline_models(models_dir).settings_values(),
        "data_dir": data_dir,
        "collection": "ours",
        "qdrant_url": None,
        **update,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# --- ingest, each in a process of its own --------------------------------------------------------
def _sample(chunks: list[Chunk], sample: int) -> list[Chunk]:
    step = max(1, len(chunks) // sample)
    return chunks[::step][:sample]  # spread over the corpus: lengths as in the whole


def sample_peer(
    dataset_dir: Path, models_dir: Path, docs: int | None, sample: int, out: Path
) -> None:
    """The peer's whole ingest pipeline (its own dense encoding included) on the sample of
    `sample_ours`: CPU-seconds per document, peak RSS, and its dense vectors for the check."""
    from bench import peer_llamaindex  # noqa: PLC0415

    models = assemble_offline_models(models_dir)
    picked = _sample(corpus_chunks(load_subset(dataset_dir, docs)), sample)
    with tempfile.TemporaryDirectory(prefix="msrag-peer-sample-") as tmp:
        cpu0, wall0 = cpu_seconds(), time.perf_counter()
        peer_llamaindex.ingest(picked, models, Path(tmp) / "qdrant")
        cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
    check = picked[:16]
    vectors = peer_llamaindex.embed_documents(models, [c.text for c in check])
    report = {
        "documents": len(picked),
        "cpu_s": cpu,
        "cpu_s_per_doc": cpu / len(picked),
        "wall_s": wall,
        "peak_rss_mb": peak_rss_mb(),
        "dense_check": {c.doc_id: v.tolist() for c, v in zip(check, vectors, strict=True)},
    }
    out.write_text(json.dumps(report))


def ingest_peer(
    dataset_dir: Path, models_dir: Path, cache_root: Path, store: Path, docs: int | None
) -> None:
    """The peer's index of the subset: LlamaIndex's pipeline with our cached dense vectors
    (equal to its own, checked on the sample), its own sparse encoding and upserts."""
    from bench import peer_llamaindex  # noqa: PLC0415

    models = assemble_offline_models(models_dir)
    full = load_beir(dataset_dir)
    chunks = corpus_chunks(load_subset(dataset_dir, docs))
    wanted = {c.doc_id for c in chunks}
    settings = _our_settings(models_dir, store)
    folder = cache_dir(cache_root, settings, Encoders(settings), full)
    dense: dict[str, np.ndarray] = {}
    for part in cached_documents(folder):
        dense.update({d: v.dense for d, v in part.items() if d in wanted})
    if len(dense) != len(wanted):
        raise SystemExit(f"The vector cache {folder} holds {len(dense)} of {len(wanted)} docs.")
    if store.exists():
        shutil.rmtree(store)
    store.mkdir(parents=True)
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    peer_llamaindex.ingest(chunks, models, store / "qdrant", dense)
    report = {
        "documents": len(chunks),
        "cpu_s": cpu_seconds() - cpu0,
        "wall_s": time.perf_counter() - wall0,
        "peak_rss_mb": peak_rss_mb(),
        "disk_bytes": peer_llamaindex.disk_bytes(store / "qdrant"),
    }
    (store / INGEST_FILE).write_text(json.dumps(report, indent=2))
    print(json.dumps(report))


def sample_ours(
    dataset_dir: Path, models_dir: Path, docs: int | None, sample: int, out: Path
) -> None:
    """Our real ingest pipeline (encode + pool + upsert) on a sample: CPU-seconds per document
    and the process's peak RSS, without re-encoding the whole corpus."""
    picked = _sample(corpus_chunks(load_subset(dataset_dir, docs)), sample)
    with tempfile.TemporaryDirectory(prefix="msrag-peer-sample-") as tmp:
        settings = _our_settings(models_dir, Path(tmp))
        cpu0, wall0 = cpu_seconds(), time.perf_counter()
        encoders = Encoders(settings)
        store = open_store(settings, encoders.layout(settings))
        ingest_chunks(picked, store, encoders, progress=False)
        store.optimize()
        store.close()
        cpu = cpu_seconds() - cpu0
    report = {
        "documents": len(picked),
        "cpu_s": cpu,
        "cpu_s_per_doc": cpu / len(picked),
        "wall_s": time.perf_counter() - wall0,
        "peak_rss_mb": peak_rss_mb(),
    }
    out.write_text(json.dumps(report, indent=2))


def build_ours(
    dataset_dir: Path,
    models_dir: Path,
    docs: int | None,
    cache_root: Path,
    data_dir: Path,
    out: Path,
) -> None:
    """Our store from the shared vector cache: index-time options applied, upsert, optimize."""
    dataset = load_subset(dataset_dir, docs)
    chunks = {c.doc_id: c for c in corpus_chunks(dataset)}
    settings = _our_settings(models_dir, data_dir)
    encoders = Encoders(settings)
    folder = cache_dir(cache_root, settings, encoders, load_beir(dataset_dir))
    if (settings.store_path).exists():
        shutil.rmtree(settings.store_path)
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    store = open_store(settings, encoders.layout(settings))
    seen = 0
    for part in cached_documents(folder):
        items = [(chunks[d], v) for d, v in part.items() if d in chunks]
        store.upsert(
            [c for c, _ in items], [apply_index_time_options(v, settings) for _, v in items]
        )
        seen += len(items)
    if seen != len(chunks):
        store.close()
        raise SystemExit(
            f"The vector cache {folder} holds {seen} of {len(chunks)} documents: let "
            "`python -m bench.optimizations` finish encoding first."
        )
    store.optimize()
    points, disk = store.count(), store.disk_bytes() or 0
    store.close()
    report = {
        "documents": points,
        "cpu_s": cpu_seconds() - cpu0,
        "wall_s": time.perf_counter() - wall0,
        "peak_rss_mb": peak_rss_mb(),
        "disk_bytes": disk,
        "cache": str(folder),
        "layout": {
            "pool_factor": settings.pool_factor,
            "colbert_datatype": settings.colbert_datatype,
        },
    }
    out.write_text(json.dumps(report, indent=2))


def _child(role: str, args: argparse.Namespace, *extra: str) -> None:
    cmd = [sys.executable, "-m", "bench.peer", str(args.dataset), "--role", role]
    cmd += ["--models-dir", str(args.models_dir), *extra]
    if args.docs:
        cmd += ["--docs", str(args.docs)]
    subprocess.run(cmd, check=True)


# --- query servers: one process per system, taking turns ------------------------------------------
def _ranked(pairs: list[tuple[str, float]]) -> dict[str, float]:
    """doc id → score, a document's best passage standing for it; a tiny rank term keeps the
    engine's order among equal scores when ranx sorts (as `evaluate_modes` does)."""
    ranked: dict[str, float] = {}
    for rank, (doc, score) in enumerate(pairs, start=1):
        ranked.setdefault(doc, score - rank * 1e-9)
    return ranked


def serve_ours(conn: Connection, settings: Settings, modes: tuple[str, ...]) -> None:
    retriever = MultiStageRetriever.from_settings(settings)
    while (msg := conn.recv())[0] != "stop":
        if msg[0] == "query":
            out: dict[str, tuple[dict[str, float] | None, float]] = {}
            for mode in modes:
                res = retriever.search(msg[1], mode=mode, top_k=DEPTH)
                out[mode] = (
                    _ranked([(p.doc_id, p.score) for p in res.passages]),
                    res.timings["total_ms"],
                )
            if REFUSAL_PROBE in modes:
                for relevance in (False, True):
                    res = retriever.search(msg[1], mode=REFUSAL_PROBE, top_k=5, relevance=relevance)
                    name = f"{REFUSAL_PROBE} top-5" + (" + stored MaxSim" if relevance else "")
                    out[name] = (None, res.timings["total_ms"])
            conn.send(out)
    retriever.close()
    conn.send({"peak_rss_mb": peak_rss_mb(), "rss_mb": rss_mb()})


def serve_peer(conn: Connection, models_dir: Path, path: Path) -> None:
    from bench.peer_llamaindex import PeerRetriever  # noqa: PLC0415

    peer = PeerRetriever(assemble_offline_models(models_dir), path, top_k=DEPTH)
    while (msg := conn.recv())[0] != "stop":
        if msg[0] == "query":
            start = time.perf_counter()
            hits = peer.search(msg[1])
            ms = (time.perf_counter() - start) * 1000
            conn.send({PEER: (_ranked(hits), ms)})
        elif msg[0] == "vectors":
            conn.send(peer.stored_vectors(msg[1]))
    peer.close()
    conn.send({"peak_rss_mb": peak_rss_mb(), "rss_mb": rss_mb()})


def check_vectors(
    stored: dict[str, tuple[np.ndarray, Any]],
    peer_dense: dict[str, list[float]],
    cached: dict[str, Any],
    ids: dict[str, str],
) -> dict[str, Any]:
    """The peer's vectors against ours: its own dense encoding of sample documents, and the
    sparse vectors its store holds (made by its `sparse_doc_fn`)."""
    cosines = []
    for doc_id, vector in peer_dense.items():
        a, b = np.asarray(vector), cached[doc_id].dense
        cosines.append(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))))
    sparse_equal = 0
    for point_id, (_, sparse) in stored.items():
        mine = cached[ids[point_id]]
        theirs = dict(zip(sparse.indices, sparse.values, strict=True)) if sparse else {}
        ours = dict(zip(mine.sparse.indices, mine.sparse.values, strict=True))
        same = theirs.keys() == ours.keys() and all(abs(theirs[k] - ours[k]) <= 1e-6 for k in ours)
        sparse_equal += bool(same)
    return {
        "dense_documents": len(cosines),
        "dense_min_cosine": min(cosines),
        "sparse_documents": len(stored),
        "sparse_identical": sparse_equal,
    }


def run(args: argparse.Namespace, store: Path) -> dict[str, Any]:
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    peer_ingest = run_ingest_peer(args, store)
    if not (store / "sample.json").exists():
        _child(
            "sample-peer", args, "--sample", str(args.sample), "--out", str(store / "sample.json")
        )
    peer_sample = json.loads((store / "sample.json").read_text())
    if not (work / "sample.json").exists():
        _child(
            "sample-ours", args, "--sample", str(args.sample), "--out", str(work / "sample.json")
        )
    if not (work / "build.json").exists():
        _child(
            "build-ours",
            args,
            "--cache",
            str(args.cache),
            "--work",
            str(work),
            "--out",
            str(work / "build.json"),
        )
    sample = json.loads((work / "sample.json").read_text())
    build = json.loads((work / "build.json").read_text())

    dataset = load_subset(args.dataset, args.docs)
    qids = list(dataset.queries)[: args.queries or None]
    modes = tuple(m for m in args.modes.split(","))
    ctx = mp.get_context("spawn")
    ours_conn, ours_child = ctx.Pipe()
    peer_conn, peer_child = ctx.Pipe()
    settings = _our_settings(args.models_dir, work)
    procs = [
        ctx.Process(target=serve_ours, args=(ours_child, settings, modes)),
        ctx.Process(target=serve_peer, args=(peer_child, args.models_dir, store / "qdrant")),
    ]
    for p in procs:
        p.start()

    def ask(conn: Connection, text: str) -> dict[str, Any]:
        conn.send(("query", text))
        return conn.recv()

    for text in list(dataset.queries.values())[: args.warmup]:  # page faults, lazy init
        ask(ours_conn, text)
        ask(peer_conn, text)
    runs: dict[str, dict[str, dict[str, float]]] = {m: {} for m in (*modes, PEER)}
    ms: dict[str, list[float]] = {}
    for i, qid in enumerate(qids):
        order = (ours_conn, peer_conn) if i % 2 == 0 else (peer_conn, ours_conn)
        for conn in order:
            for name, (ranked, t) in ask(conn, dataset.queries[qid]).items():
                if ranked is not None:
                    runs[name][qid] = ranked
                ms.setdefault(name, []).append(t)

    wanted = set(peer_sample["dense_check"]) | set(list(dataset.corpus)[:50])
    cached: dict[str, Any] = {}
    for part in cached_documents(cache_dir_for(args, load_beir(args.dataset))):
        cached.update({d: v for d, v in part.items() if d in wanted})
    ids = {c.id: c.doc_id for c in corpus_chunks(dataset) if c.doc_id in cached}
    peer_conn.send(("vectors", list(ids)[:50]))
    vectors = check_vectors(peer_conn.recv(), peer_sample["dense_check"], cached, ids)
    rss = {}
    for name, conn in (("ours", ours_conn), (PEER, peer_conn)):
        conn.send(("stop",))
        rss[name] = conn.recv()
    for p in procs:
        p.join()

    qrels = {q: dataset.qrels[q] for q in qids}
    per_query = {m: per_query_scores(qrels, r) for m, r in runs.items()}
    systems = {}
    for name, r in runs.items():
        systems[name] = {**score_run(qrels, r), "latency_ms": summary(ms[name])}
        if name != PEER:
            systems[name]["vs_peer_ndcg@10"] = paired_bootstrap(
                [per_query[name][q] for q in qids], [per_query[PEER][q] for q in qids]
            )
    probes = {name: summary(t) for name, t in ms.items() if name not in runs}
    return {
        "dataset": dataset.name,
        "refusal_probe_latency_ms": probes,
        "documents": len(dataset.corpus),
        "queries": len(qids),
        "peer": {
            "what": "LlamaIndex QdrantVectorStore(enable_hybrid=True), qdrant-client local mode "
            "(path=), similarity_top_k=100, sparse_top_k=100, relative_score_fusion (alpha 0.5); "
            "dense: FastEmbedEmbedding on the local MiniLM folder; sparse: the local Qdrant/bm25 "
            "folder through sparse_doc_fn/sparse_query_fn (IDF modifier on)",
            "ingest_sample": {k: v for k, v in peer_sample.items() if k != "dense_check"},
            "ingest_cpu_s_estimate": peer_sample["cpu_s_per_doc"] * len(dataset.corpus),
            "build_with_cached_dense": peer_ingest,
            "query_process_rss_mb": rss[PEER],
            "disk_bytes": peer_ingest["disk_bytes"],
        },
        "ours": {
            "layout": build["layout"],
            "ingest_sample": sample,
            "ingest_cpu_s_estimate": sample["cpu_s_per_doc"] * len(dataset.corpus),
            "build_from_cache": build,
            "query_process_rss_mb": rss["ours"],
            "disk_bytes": build["disk_bytes"],
        },
        "vectors_equal": vectors,
        "latency_note": "per query: query encoding + search (+ fusion), each system in its own "
        "process, taking turns query by query",
        "systems": systems,
    }


def cache_dir_for(args: argparse.Namespace, dataset: BeirDataset) -> Path:
    settings = _our_settings(args.models_dir, args.work)
    return cache_dir(args.cache, settings, Encoders(settings), dataset)


def run_ingest_peer(args: argparse.Namespace, store: Path) -> dict[str, Any]:
    """The peer's ingest report, measuring it in a child process if the store has none."""
    report = store / INGEST_FILE
    if not report.exists():
        _child("ingest-peer", args, "--peer-store", str(store), "--cache", str(args.cache))
    return json.loads(report.read_text())


def print_table(report: dict[str, Any]) -> None:
    table = Table(
        title=f"{report['dataset']}: {report['queries']} queries, {report['documents']} documents"
    )
    for col in (
        "system",
        "nDCG@10",
        "R@100",
        "MRR@10",
        "Δ nDCG@10 vs peer [95% CI]",
        "p50 ms",
        "p95 ms",
    ):
        table.add_column(col, justify="left" if col == "system" else "right")
    for name, s in report["systems"].items():
        ci = s.get("vs_peer_ndcg@10")
        table.add_row(
            name,
            f"{s['ndcg@10']:.3f}",
            f"{s['recall@100']:.3f}",
            f"{s['mrr@10']:.3f}",
            f"{ci['mean']:+.3f} [{ci['ci95_low']:+.3f}, {ci['ci95_high']:+.3f}]" if ci else "",
            f"{s['latency_ms']['p50']:.1f}",
            f"{s['latency_ms']['p95']:.1f}",
        )
    Console(width=160).print(table)
    peer, ours = report["peer"], report["ours"]
    console.print(
        f"peer: ingest ≈ {peer['ingest_cpu_s_estimate']:.0f} CPU-s (sample of "
        f"{peer['ingest_sample']['documents']}: {peer['ingest_sample']['cpu_s_per_doc']:.3f} "
        f"CPU-s/doc, peak RSS {peer['ingest_sample']['peak_rss_mb']:.0f} MB); store "
        f"{peer['disk_bytes'] / 2**20:.1f} MB; query process peak RSS "
        f"{peer['query_process_rss_mb']['peak_rss_mb']:.0f} MB"
    )
    console.print(
        f"ours: ingest ≈ {ours['ingest_cpu_s_estimate']:.0f} CPU-s (sample of "
        f"{ours['ingest_sample']['documents']}: {ours['ingest_sample']['cpu_s_per_doc']:.3f} "
        f"CPU-s/doc, peak RSS {ours['ingest_sample']['peak_rss_mb']:.0f} MB) + build from cache "
        f"{ours['build_from_cache']['cpu_s']:.0f} CPU-s; store {ours['disk_bytes'] / 2**20:.1f} "
        f"MB; query process peak RSS {ours['query_process_rss_mb']['peak_rss_mb']:.0f} MB"
    )
    console.print(f"vectors: {report['vectors_equal']}")
    for name, t in report["refusal_probe_latency_ms"].items():
        console.print(f"{name}: p50 {t['p50']:.1f} ms, p95 {t['p95']:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("dataset", type=Path, nargs="?", default=Path("../shared/data/scifact"))
    ap.add_argument("--offline", action="store_true", help="the offline pack (the only option)")
    ap.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR)
    ap.add_argument("--modes", default=",".join(OUR_MODES), help="our modes, comma-separated")
    ap.add_argument("--queries", type=int, default=None, help="first N queries (all)")
    ap.add_argument(
        "--docs",
        type=int,
        default=None,
        help="only the first N documents (corpus order) and the queries judged within them",
    )
    ap.add_argument("--warmup", type=int, default=5, help="untimed queries per system first")
    ap.add_argument("--sample", type=int, default=256, help="documents for our ingest CPU/RSS")
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache/msrag/bench-vectors",
        help="the vector cache of bench/optimizations.py",
    )
    ap.add_argument("--peer-store", type=Path, default=None, help="the peer's index folder")
    ap.add_argument(
        "--work",
        type=Path,
        default=DEFAULT_WORK,
        help="our store and per-step measurements (reused; delete to measure again)",
    )
    ap.add_argument("--output", type=Path, default=RESULTS / "peer.json")
    ap.add_argument(
        "--role",
        choices=("run", "ingest-peer", "sample-peer", "sample-ours", "build-ours"),
        default="run",
        help=argparse.SUPPRESS,
    )
    ap.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.dataset = args.dataset.resolve()
    name = args.dataset.name + (f"-{args.docs}" if args.docs else "")
    store = args.peer_store or Path.home() / ".cache/msrag/bench-peer" / name
    if args.work == DEFAULT_WORK:
        args.work = DEFAULT_WORK / name
    if args.role == "ingest-peer":
        ingest_peer(args.dataset, args.models_dir, args.cache, store, args.docs)
    elif args.role == "sample-peer":
        sample_peer(args.dataset, args.models_dir, args.docs, args.sample, args.out)
    elif args.role == "sample-ours":
        sample_ours(args.dataset, args.models_dir, args.docs, args.sample, args.out)
    elif args.role == "build-ours":
        build_ours(args.dataset, args.models_dir, args.docs, args.cache, args.work, args.out)
    else:
        report = run(args, store)
        print_table(report)
        write_report(args.output, report)
        console.print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
