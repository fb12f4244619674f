"""Ingest speed: batching by token length against the previous character-length batching.

One run, the same documents, the same loaded models, the same scratch-store settings:

- **before**: what ingest did until now — every chunk sorted by *character* length, cut into
  batches of `MSRAG_ENCODE_BATCH_SIZE` (32), each batch one transformer call padded to its longest;
- **after**: `retrieval.ingest.pipeline.ingest_chunks` as it is — windows of
  `MSRAG_ENCODE_WINDOW` chunks sorted by the encoder's own *token* count, batches capped at 32
  chunks and `MSRAG_ENCODE_MAX_TOKENS` padded tokens;
- **raw encoder**: tokenizer + onnxruntime session alone on the after-batches (no BM25, no
  pooling, no store), the ceiling the pipeline is compared with.

Both pipelines encode + pool + upsert into a fresh embedded store. Passes run before, after,
after, before (and raw in the middle) so a machine whose load drifts during the run favours
neither; each figure is the mean of its passes. The vectors of the two pipelines are compared
document by document (they must be equal: padding is masked). The padded-token overhead of
both batchings over the whole corpus is computed from the token counts (exact, no timing).

    python -m bench.ingest_speed ../shared/data/scifact --offline --docs 200
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.harness import RESULTS, add_model_options, peak_rss_mb, settings_from, write_report
from msrag.settings import Settings
from retrieval.batching import length_batches
from retrieval.encoders import Encoders
from retrieval.ingest.evaluate import corpus_chunks, load_beir
from retrieval.ingest.pipeline import ingest_chunks
from retrieval.stores import open_store
from retrieval.types import Chunk, ChunkVectors

console = Console(width=120)


class _Recording:
    """The encoders as ingest sees them, keeping every vector it produced (by text)."""

    def __init__(self, encoders: Encoders, *, by_characters: bool) -> None:
        self._encoders = encoders
        self.batch_size = encoders.batch_size
        self.max_batch_tokens = encoders.max_batch_tokens
        self.by_characters = by_characters
        self.vectors: dict[str, ChunkVectors] = {}
        self.padded_tokens = 0

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        # "before" sorted by characters: report them as the length ingest batches by.
        if self.by_characters:
            return [len(t) for t in texts]
        return self._encoders.token_counts(texts)

    def encode_batch(self, texts: Sequence[str]) -> list[ChunkVectors]:
        counts = self._encoders.token_counts(texts)
        self.padded_tokens += max(counts) * len(counts)
        out = self._encoders.encode_batch(texts)
        self.vectors.update(zip(texts, out, strict=True))
        return out

    def encode_documents(self, texts: Sequence[str]) -> list[ChunkVectors]:
        return self.encode_batch(texts)


def run_pipeline(
    settings: Settings, encoders: Encoders, chunks: list[Chunk], *, before: bool
) -> dict[str, Any]:
    """Encode + upsert the chunks into a scratch embedded store; docs/s and padded tokens."""
    scratch = Path(tempfile.mkdtemp(prefix="msrag-ingest-speed-"))
    try:
        s = settings.model_copy(update={"data_dir": scratch, "qdrant_url": None})
        store = open_store(s, encoders.layout(s))
        recording = _Recording(encoders, by_characters=before)
        options: dict[str, Any] = (
            # The previous ingest: one global sort by characters, fixed-size batches.
            {"window": len(chunks), "max_tokens": 10**12}
            if before
            else {"window": settings.encode_window, "max_tokens": settings.encode_max_tokens}
        )
        start = time.perf_counter()
        ingest_chunks(chunks, store, recording, progress=False, **options)
        seconds = time.perf_counter() - start
        store.close()
        return {
            "seconds": seconds,
            "docs_per_s": len(chunks) / seconds,
            "padded_tokens": recording.padded_tokens,
            "vectors": recording.vectors,
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def raw_encoder(encoders: Encoders, settings: Settings, texts: list[str]) -> dict[str, float]:
    """Texts/s of the models alone (`Encoders.transformer_pass`), on the same token batches."""
    batches = list(
        length_batches(
            texts,
            encoders.token_counts,
            batch_size=settings.encode_batch_size,
            max_tokens=settings.encode_max_tokens,
            window=settings.encode_window,
        )
    )
    start = time.perf_counter()
    for batch in batches:
        encoders.transformer_pass(batch)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "docs_per_s": len(texts) / seconds}


def padding_overhead(counts: list[int], chars: list[int], settings: Settings) -> dict[str, float]:
    """Padded tokens / real tokens over the whole corpus, for both batchings (exact)."""
    real = sum(counts)
    idx = list(range(len(counts)))

    def padded(batches: list[list[int]]) -> int:
        return sum(max(counts[i] for i in b) * len(b) for b in batches)

    by_chars = sorted(idx, key=lambda i: chars[i])
    size = settings.encode_batch_size
    before = [by_chars[k : k + size] for k in range(0, len(idx), size)]
    after = list(
        length_batches(
            idx,
            lambda xs: [counts[i] for i in xs],
            batch_size=size,
            max_tokens=settings.encode_max_tokens,
            window=settings.encode_window,
        )
    )
    return {"before": padded(before) / real, "after": padded(after) / real}


def compare_vectors(a: dict[str, ChunkVectors], b: dict[str, ChunkVectors]) -> dict[str, Any]:
    """Largest absolute difference of each vector kind over the documents both encoded."""
    worst = {"dense": 0.0, "colbert": 0.0, "sparse": 0.0}
    shapes_equal = True
    for text, va in a.items():
        vb = b[text]
        assert va.dense is not None and vb.dense is not None
        worst["dense"] = max(worst["dense"], float(np.abs(va.dense - vb.dense).max()))
        assert va.colbert is not None and vb.colbert is not None
        if va.colbert.shape != vb.colbert.shape:
            shapes_equal = False
            continue
        worst["colbert"] = max(worst["colbert"], float(np.abs(va.colbert - vb.colbert).max()))
        assert va.sparse is not None and vb.sparse is not None
        if va.sparse.indices != vb.sparse.indices:
            worst["sparse"] = float("inf")
        else:
            diff = np.abs(np.subtract(va.sparse.values, vb.sparse.values))
            worst["sparse"] = max(worst["sparse"], float(diff.max(initial=0.0)))
    return {"max_abs_diff": worst, "colbert_shapes_equal": shapes_equal, "documents": len(a)}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("dataset", type=Path)
    add_model_options(ap)
    ap.add_argument("--docs", type=int, default=200, help="documents timed (a seeded sample)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--output", type=Path, default=RESULTS / "ingest_speed.json")
    args = ap.parse_args()

    settings = settings_from(args)
    dataset = load_beir(args.dataset)
    chunks = corpus_chunks(dataset)
    encoders = Encoders(settings)
    console.print("Token counts of the whole corpus…")
    counts = encoders.token_counts([c.text for c in chunks])
    overhead = padding_overhead(counts, [len(c.text) for c in chunks], settings)

    sample = random.Random(args.seed).sample(chunks, min(args.docs, len(chunks)))
    passes: dict[str, list[dict[str, Any]]] = {"before": [], "after": [], "raw": []}
    for name in ("before", "after", "raw", "after", "before"):
        console.print(f"{name} pass on {len(sample)} documents…")
        if name == "raw":
            passes["raw"].append(raw_encoder(encoders, settings, [c.text for c in sample]))
        else:
            passes[name].append(run_pipeline(settings, encoders, sample, before=name == "before"))
        console.print(f"  {passes[name][-1]['docs_per_s']:.2f} docs/s")

    def mean_rate(name: str) -> float:
        # Documents over total time of the passes: the mean rate of equal-sized passes.
        return len(sample) * len(passes[name]) / sum(p["seconds"] for p in passes[name])

    count_of = {c.id: n for c, n in zip(chunks, counts, strict=True)}
    equality = compare_vectors(passes["before"][0]["vectors"], passes["after"][0]["vectors"])
    rates = {name: mean_rate(name) for name in passes}
    report = {
        "dataset": dataset.name,
        "documents_timed": len(sample),
        "sample": f"random.Random({args.seed}).sample of the corpus",
        "settings": {
            "encode_batch_size": settings.encode_batch_size,
            "encode_max_tokens": settings.encode_max_tokens,
            "encode_window": settings.encode_window,
            "pool_factor": settings.pool_factor,
            "colbert_datatype": settings.colbert_datatype,
        },
        "models": encoders.model_ids,
        "docs_per_s": rates,
        "speedup_after_vs_before": rates["after"] / rates["before"],
        "after_vs_raw_encoder": rates["after"] / rates["raw"],
        "passes_seconds": {n: [p["seconds"] for p in ps] for n, ps in passes.items()},
        "padded_over_real_tokens_sample": {
            n: passes[n][0]["padded_tokens"] / sum(count_of[c.id] for c in sample)
            for n in ("before", "after")
        },
        "padded_over_real_tokens_corpus": overhead,
        "vectors_before_vs_after": equality,
        "peak_rss_mb": peak_rss_mb(),
    }
    table = Table(title=f"{dataset.name}: ingest of {len(sample)} documents, one run")
    for col in ("pipeline", "docs/s", "vs before", "padded/real tokens (corpus)"):
        table.add_column(col, justify="left" if col == "pipeline" else "right")
    table.add_row(
        "before (char sort, 32/batch)",
        f"{rates['before']:.2f}",
        "1.00×",
        f"{overhead['before']:.3f}",
    )
    table.add_row(
        "after (token sort in window, token budget)",
        f"{rates['after']:.2f}",
        f"{rates['after'] / rates['before']:.2f}×",
        f"{overhead['after']:.3f}",
    )
    table.add_row(
        "raw encoder (tokenizer + onnxruntime)",
        f"{rates['raw']:.2f}",
        f"{rates['raw'] / rates['before']:.2f}×",
        "",
    )
    console.print(table)
    console.print(f"Vectors before vs after: {equality}")
    write_report(args.output, report)
    console.print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
