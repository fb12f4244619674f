"""Helpers that tests of the write path share (and tests of the commands built on it)."""

from __future__ import annotations

import json
from pathlib import Path


def write_beir(
    root: Path,
    docs: dict[str, tuple[str, str]],
    queries: dict[str, str],
    qrels: list[tuple[str, str, int]],
    split: str = "test",
) -> Path:
    """A dataset in BEIR's layout (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) under `root`."""
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": d, "title": t, "text": x}) + "\n" for d, (t, x) in docs.items())
    )
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items())
    )
    (root / "qrels" / f"{split}.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in qrels)
    )
    return root


# An ingest in a child process (`python -c CHILD '{"settings": {...}, "paths": [...]}'`) that
# prints "stored N" after each durably stored batch, so that a test can SIGKILL it mid-run.
CHILD = """
import json, sys
from pathlib import Path
from retrieval.encoders import Encoders
from retrieval.ingest.pipeline import ingest
from msrag.settings import Settings
from retrieval.stores import open_store

config = json.loads(sys.argv[1])
settings = Settings(_env_file=None, **config["settings"])
encoders = Encoders(settings)
store = open_store(settings, encoders.layout(settings))

class Announcing:
    # The real store; says when each batch is durably stored so the test can kill mid-run.
    def __init__(self, inner):
        self.inner = inner
    def __getattr__(self, name):
        return getattr(self.inner, name)
    def upsert(self, chunks, vectors):
        self.inner.upsert(chunks, vectors)
        print("stored", len(chunks), flush=True)

ingest([Path(p) for p in config["paths"]], settings, Announcing(store), encoders, progress=False)
print("done", flush=True)
"""
