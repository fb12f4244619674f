"""Retrieval quality on any BEIR-format dataset: ingest once, run every mode, score with ranx.

One passage per corpus document (`title + " " + text`), as BEIR and the SciFact reference do.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import uuid
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ranx import Qrels, Run, evaluate

from retrieval.encoders import Encoders
from retrieval.errors import RetrievalError
from retrieval.modes import MODES
from retrieval.retriever import MultiStageRetriever
from retrieval.settings import RetrievalSettings
from retrieval.stores import open_store
from retrieval.stores.base import Store
from retrieval.types import Chunk

if TYPE_CHECKING:
    from matplotlib.figure import Figure

METRICS: tuple[str, ...] = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
_BEIR_NS = uuid.UUID("5b1f1c1e-6a43-4a55-9f0b-7f4c3a3b9e21")


@dataclass(frozen=True)
class BeirDataset:
    name: str
    corpus: dict[str, tuple[str, str]]  # doc id → (title, text)
    queries: dict[str, str]  # only queries that have judgments in the split
    qrels: dict[str, dict[str, int]]
    fingerprint: str  # content hash of the files: decides whether a stored collection is reusable


def load_beir(directory: Path, split: str = "test") -> BeirDataset:
    """Read `corpus.jsonl`, `queries.jsonl` and `qrels/<split>.tsv`."""
    directory = Path(directory)
    files = {
        "corpus": directory / "corpus.jsonl",
        "queries": directory / "queries.jsonl",
        "qrels": directory / "qrels" / f"{split}.tsv",
    }
    for what, path in files.items():
        if not path.exists():
            raise RetrievalError(
                f"{path} not found: a BEIR dataset folder holds corpus.jsonl, queries.jsonl and "
                f"qrels/<split>.tsv ({what} missing; --split picks the qrels file)."
            )
    digest = hashlib.sha256()
    corpus: dict[str, tuple[str, str]] = {}
    with files["corpus"].open("rb") as fh:
        for line in fh:
            digest.update(line)
            if line.strip():
                row = json.loads(line)
                corpus[str(row["_id"])] = (row.get("title") or "", row.get("text") or "")
    qrels: dict[str, dict[str, int]] = {}
    with files["qrels"].open() as fh:
        for i, text in enumerate(fh):
            parts = text.rstrip("\n").split("\t")
            if i == 0 and not parts[-1].lstrip("-").isdigit():
                continue  # header
            if len(parts) >= 3:
                qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    queries: dict[str, str] = {}
    with files["queries"].open() as fh:
        for text in fh:
            if text.strip():
                row = json.loads(text)
                if str(row["_id"]) in qrels:
                    queries[str(row["_id"])] = row["text"]
    return BeirDataset(directory.resolve().name, corpus, queries, qrels, digest.hexdigest()[:16])


def corpus_chunks(dataset: BeirDataset) -> list[Chunk]:
    """One chunk per document, with ids stable across runs."""
    chunks = []
    for doc_id, (title, text) in dataset.corpus.items():
        body = f"{title} {text}".strip()
        chunks.append(
            Chunk(
                id=str(uuid.uuid5(_BEIR_NS, f"{dataset.name}\x00{doc_id}")),
                doc_id=doc_id,
                source=f"{dataset.name}/{doc_id}",
                title=title,
                text=body,
                chunk_index=0,
                chunk_count=1,
                char_start=0,
                char_end=len(body),
                file_hash=dataset.fingerprint,
            )
        )
    return chunks


def eval_settings(
    settings: RetrievalSettings, dataset: BeirDataset, encoders: Encoders
) -> RetrievalSettings:
    """Its own collection, named by data + layout, so a changed model or option never reuses it."""
    # placement (RAM or disk) stored nothing different: the same collection serves both
    layout = json.dumps(encoders.layout(settings).content().to_dict(), sort_keys=True)
    key = hashlib.sha256(f"{dataset.fingerprint}{layout}".encode()).hexdigest()[:10]
    return settings.model_copy(update={"collection": f"beir-{dataset.name}-{key}"})


def open_dataset_store(
    settings: RetrievalSettings,
    dataset: BeirDataset,
    encoders: Encoders,
    *,
    progress: bool = True,
    on_ingest: Callable[[dict[str, float]], None] | None = None,
    before_ingest: Callable[[int, int], None] | None = None,
) -> tuple[RetrievalSettings, Store]:
    """Open (and fill, once) the dataset's collection; resumes a partial ingest.

    `before_ingest(missing, total)` runs when documents must be encoded first (minutes for a
    real dataset), so a caller can say so before the wait starts.
    """
    from retrieval.ingest.pipeline import ingest_chunks  # evaluation-only path

    ds_settings = eval_settings(settings, dataset, encoders)
    store = open_store(ds_settings, encoders.layout(ds_settings))
    stored = {pid for pid, _ in store.scroll_payloads([])}
    missing = [c for c in corpus_chunks(dataset) if c.id not in stored]
    if missing:
        if before_ingest is not None:
            before_ingest(len(missing), len(dataset.corpus))
        stats = ingest_chunks(missing, store, encoders, progress=progress)
        store.optimize()
        if on_ingest is not None:
            on_ingest(stats)
    return ds_settings, store


@dataclass
class ModeResult:
    mode: str
    metrics: dict[str, float]
    encode_ms: list[float] = field(default_factory=list)
    search_ms: list[float] = field(default_factory=list)

    @staticmethod
    def _pct(values: Sequence[float], q: float) -> float:
        if not values:
            return float("nan")
        return (
            statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
            if len(values) > 1
            else values[0]
        )

    def summary(self) -> dict[str, float]:
        total = [e + s for e, s in zip(self.encode_ms, self.search_ms, strict=True)]
        return {
            **self.metrics,
            "p50_ms": self._pct(total, 50),
            "p95_ms": self._pct(total, 95),
            "encode_p50_ms": self._pct(self.encode_ms, 50),
            "encode_p95_ms": self._pct(self.encode_ms, 95),
            "search_p50_ms": self._pct(self.search_ms, 50),
            "search_p95_ms": self._pct(self.search_ms, 95),
        }


def score_run(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]
) -> dict[str, float]:
    """nDCG@10, Recall@10, Recall@100 and MRR@10 with ranx (queries with no result count as 0)."""
    filled = {q: (run.get(q) or {"__none__": 0.0}) for q in qrels}
    with warnings.catch_warnings():
        # numba, compiling ranx's metrics on first use, warns "unsafe cast from uint64 to
        # int64" wrapped in terminal bold codes (raw escapes in any log); ids are small, the
        # metrics unaffected. Matched by the escape that starts numba's highlighted messages.
        warnings.filterwarnings("ignore", message="\x1b\\[")
        scores = evaluate(Qrels(qrels), Run(filled), list(METRICS), make_comparable=True)
    return {m: float(scores[m]) for m in METRICS}


def per_query_scores(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], metric: str = "ndcg@10"
) -> dict[str, float]:
    """`metric` for each query of `qrels` (same filling as `score_run`: no result scores 0);
    their mean is `score_run`'s figure. For paired significance tests between two runs."""
    filled = {q: (run.get(q) or {"__none__": 0.0}) for q in qrels}
    qrels_, run_ = Qrels(qrels), Run(filled)
    evaluate(qrels_, run_, metric, make_comparable=True)
    return {q: float(v) for q, v in run_.scores[metric].items()}


def evaluate_modes(
    retriever: MultiStageRetriever,
    dataset: BeirDataset,
    modes: Iterable[str] = MODES,
    *,
    depth: int = 100,
    limit: int | None = None,
    progress: Callable[[str, int], Any] | None = None,
) -> dict[str, ModeResult]:
    """Run every query in every mode (top `depth`), score it, keep per-query latencies."""
    query_ids = list(dataset.queries)[: limit or None]
    qrels = {q: dataset.qrels[q] for q in query_ids}
    results: dict[str, ModeResult] = {}
    for mode in modes:
        run: dict[str, dict[str, float]] = {}
        result = ModeResult(mode, {})
        for qid in query_ids:
            found = retriever.search(dataset.queries[qid], mode=mode, top_k=depth)
            ranked: dict[str, float] = {}
            for p in found.passages:  # a document's best chunk stands for it
                # ranx sorts by score: a tiny rank term keeps the engine's order among equal scores
                ranked.setdefault(p.doc_id, p.score - p.rank * 1e-9)
            run[qid] = ranked
            result.encode_ms.append(found.timings["encode_ms"])
            result.search_ms.append(found.timings["search_ms"])
            if progress:
                progress(mode, 1)
        result.metrics = score_run(qrels, run)
        results[mode] = result
    return results


def plot_quality_latency(results: dict[str, ModeResult], path: Path) -> None:
    """nDCG@10 against median latency, one labelled point per mode."""
    import matplotlib  # only the --plot path pays for it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = quality_latency_figure(results)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def quality_latency_figure(results: dict[str, ModeResult]) -> Figure:
    """The plot: one marker per mode, named in a legend beside the axes — labels written next
    to the points overlapped, since several modes land within a millisecond and 0.01 nDCG."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    markers = "osD^v<>pPX*h"
    for i, (mode, res) in enumerate(results.items()):
        s = res.summary()
        ax.scatter(s["p50_ms"], s["ndcg@10"], marker=markers[i % len(markers)], s=60, label=mode)
    ax.set_xlabel("median latency per query, encode + search (ms)")
    ax.set_ylabel("nDCG@10")
    ax.set_title("Quality against latency per retrieval mode")
    ax.grid(alpha=0.3)
    ax.legend(title="mode", loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.tight_layout()
    return fig
