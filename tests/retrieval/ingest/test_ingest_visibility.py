"""No half documents reach search: a version's chunks stay hidden until all of them are stored.

A real ingest process is killed with SIGKILL in the middle of a long document; after the restart
the store opens, search never returns a chunk of the half-stored document (its stored chunks are
fewer than its `chunk_count`, which `msrag status` can show), and the next run makes it whole and
visible.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from retrieval.encoders import Encoders
from retrieval.ingest.pipeline import ingest
from retrieval.retriever import MultiStageRetriever
from retrieval.types import PENDING
from tests.conftest import REPO, make_settings
from tests.retrieval.ingest.helpers import CHILD

LONG_TOPIC = "zeppelin hangar"


def write_docs(folder: Path) -> None:
    folder.mkdir()
    for n in range(3):
        (folder / f"short_{n}.md").write_text(
            f"# Short {n}\n\nThe {LONG_TOPIC} notes mention station {n} only in passing."
        )
    paragraphs = [
        f"Section {p}. The {LONG_TOPIC} at field {p} held airship {p * 7 % 31}; its crew of "
        f"{p % 9 + 3} inspected the gas cells and logged {p * 13 % 101} cubic metres of loss."
        for p in range(120)
    ]
    (folder / "long.md").write_text("# The long log\n\n" + "\n\n".join(paragraphs))


def chunks_by_source(store) -> dict[str, tuple[int, int, int]]:
    """source → (stored chunks, chunk_count, pending chunks)."""
    seen: dict[str, list[int]] = {}
    for _, p in store.scroll_payloads(["source", "chunk_count", "state"]):
        entry = seen.setdefault(p["source"], [0, p["chunk_count"], 0])
        entry[0] += 1
        entry[2] += p.get("state") == PENDING
    return {s: tuple(v) for s, v in seen.items()}


@pytest.mark.slow
def test_a_killed_ingest_leaves_no_half_document_visible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_model_dirs, encoders: Encoders
) -> None:
    monkeypatch.chdir(tmp_path)
    write_docs(Path("docs"))
    overrides = {"chunk_tokens": 48, "chunk_overlap": 0, "encode_batch_size": 4}
    settings = make_settings(offline_model_dirs, tmp_path / "data", **overrides)
    config = {
        "settings": {
            k: str(v) if isinstance(v, Path) else v
            for k, v in settings.model_dump(mode="json").items()
            if k
            in {
                "data_dir",
                "dense_model",
                "sparse_model",
                "colbert_model",
                "pool_factor",
                "colbert_datatype",
                *overrides,
            }
        },
        "paths": ["docs"],
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert child.stdout is not None
    batches = 0
    for line in child.stdout:
        batches += line.startswith("stored")
        if batches == 4:  # the short files (shortest first) and part of the long one
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else ""

    retriever = MultiStageRetriever.from_settings(settings, encoders=encoders)
    try:
        stored = chunks_by_source(retriever.store)
        stored_long, count_long, pending_long = stored["docs/long.md"]
        assert 0 < stored_long < count_long, stored  # killed in the middle of the long file
        assert pending_long == stored_long
        for mode in ("dense", "bm25", "hybrid+colbert", "hybrid+colbert+rrf"):
            hits = retriever.search(f"{LONG_TOPIC} airship crew gas cells", mode=mode, top_k=20)
            sources = {p.source for p in hits.passages}
            assert sources and "docs/long.md" not in sources, (mode, sources)

        # The next run completes the document, which then becomes visible.
        report = ingest(["docs"], settings, retriever.store, encoders, progress=False)
        assert report.ok
        after = chunks_by_source(retriever.store)
        assert after["docs/long.md"] == (count_long, count_long, 0)
        hits = retriever.search(f"{LONG_TOPIC} airship crew gas cells", top_k=5)
        assert "docs/long.md" in {p.source for p in hits.passages}
    finally:
        retriever.close()
