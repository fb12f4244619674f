"""SciFact stores built from the cached real vectors, never by encoding the corpus again.

`bench.optimizations` encodes the corpus once (float32, unpooled token vectors, dense, BM25; one
pickle per part) into `~/.cache/msrag/bench-vectors/<dataset>-<key>`. The memory and scale
benchmarks read that cache and only *upsert*: the index-time options of the layout under test
(pooling, datatype) are applied to the cached vectors exactly as the encoders apply them.

Run as a script, it fills the collection `msrag eval` (and `bench.retrieval`, `bench.assistant`)
uses for the dataset from that cache, so those share one store that nothing had to encode:

    python -m bench.cached_vectors ../shared/data/scifact --offline [--data-dir .msrag]
"""

from __future__ import annotations

import argparse
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.harness import add_model_options, settings_from
from bench.optimizations import Replay, _unpack, cache_dir
from msrag.settings import Settings
from retrieval.encoders import Encoders
from retrieval.ingest.evaluate import BeirDataset, corpus_chunks, eval_settings, load_beir
from retrieval.ingest.pipeline import ingest_chunks
from retrieval.stores import open_store
from retrieval.types import Chunk, ChunkVectors

DEFAULT_CACHE = Path.home() / ".cache" / "msrag" / "bench-vectors"


@dataclass
class CachedCorpus:
    dataset: BeirDataset
    chunks: list[Chunk]
    docs: dict[str, ChunkVectors]  # doc id → float32, unpooled vectors
    queries: dict[str, ChunkVectors]  # query id → vectors as encoded (real)


def load_cached(
    dataset_dir: Path,
    settings: Settings,
    encoders: Encoders,
    root: Path = DEFAULT_CACHE,
    *,
    allow_partial: bool = False,
) -> CachedCorpus:
    """The dataset and its cached vectors; never encodes. An incomplete cache is an error,
    unless `allow_partial` (then `docs` holds the documents cached so far, at least 100)."""
    dataset = load_beir(dataset_dir)
    folder = cache_dir(root, settings, encoders, dataset)
    docs: dict[str, ChunkVectors] = {}
    for part in sorted(folder.glob("docs-*.pkl")):
        with part.open("rb") as fh:
            docs.update({k: _unpack(v) for k, v in pickle.load(fh).items()})
    query_file = folder / "queries.pkl"
    complete = len(docs) >= len(dataset.corpus) and query_file.exists()
    if not complete and not (allow_partial and len(docs) >= 100):
        raise SystemExit(
            f"{folder} holds {len(docs)} of {len(dataset.corpus)} documents"
            f"{'' if query_file.exists() else ' and no queries'}: run "
            f"`python -m bench.optimizations {dataset_dir} --offline --variants baseline` first."
        )
    cached_q: dict[str, Any] = {}
    if query_file.exists():
        with query_file.open("rb") as fh:
            cached_q = pickle.load(fh)
    queries = {q: _unpack(cached_q[q][0]) for q in dataset.queries if q in cached_q}
    return CachedCorpus(dataset, corpus_chunks(dataset), docs, queries)


class CachedEncoder(Replay):
    """`Replay` keyed by text, for chunks whose vectors are given directly."""

    def __init__(self, vectors: dict[str, ChunkVectors], settings: Settings) -> None:
        self._by_text = vectors
        self._queries = {}
        self.settings = settings
        self.batch_size = settings.encode_batch_size
        self.postprocess_s = 0.0
        self.token_vectors = 0


def build_store(
    settings: Settings, encoders: Encoders, chunks: list[Chunk], vectors: dict[str, ChunkVectors]
) -> dict[str, float]:
    """Upsert `chunks` (text → cached vectors) into the store `settings` name, then optimize."""
    store = open_store(settings, encoders.configured(settings).layout(settings))
    try:
        stats = ingest_chunks(
            chunks, store, CachedEncoder(vectors, settings), progress=False, window=4096
        )
        store.optimize()
        stats["points"] = float(store.count())
        return stats
    finally:
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(
        description="Fill the collection `msrag eval` uses for a BEIR dataset from the vector "
        "cache of bench.optimizations (no encoding); skips what is already stored."
    )
    ap.add_argument("dataset", type=Path)
    add_model_options(ap)
    ap.add_argument("--data-dir", type=Path, default=None, help="where the collection lives")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = ap.parse_args()
    console = Console()
    settings = settings_from(args, **({"data_dir": args.data_dir} if args.data_dir else {}))
    encoders = Encoders(settings)
    cached = load_cached(args.dataset, settings, encoders, args.cache)
    target = eval_settings(settings, cached.dataset, encoders)
    store = open_store(target, encoders.layout(target))
    try:
        stored = {pid for pid, _ in store.scroll_payloads([])}
    finally:
        store.close()
    missing = [c for c in cached.chunks if c.id not in stored]
    console.print(f"{target.store_path}: {len(stored)} stored, {len(missing)} to upsert.")
    if missing:
        vectors = {c.text: cached.docs[c.doc_id] for c in missing}
        stats = build_store(target, encoders, missing, vectors)
        console.print(f"Upserted {len(missing)} chunks in {stats['seconds']:.0f} s.")


if __name__ == "__main__":
    main()
