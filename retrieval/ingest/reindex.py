"""Re-encode a collection's stored text with the current settings (new models or layout options).

A new layout cannot reuse the stored vectors (moving a collection to another engine or a file
keeps them, see `retrieval/ingest/transfer.py`), but the text in the payload is enough to
rebuild every vector. The payloads are first dumped next to the data, so an interrupted re-index
resumes from the dump and nothing stored is lost.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from retrieval.access import payload_groups
from retrieval.encoders import Encoders
from retrieval.ingest.pipeline import ingest_chunks
from retrieval.ingest.settings import IngestSettings
from retrieval.stores import open_store, stored_layout
from retrieval.types import DOCUMENT_FIELDS, PAYLOAD_FIELDS, Chunk

_CHUNK_FIELDS = {f.name for f in fields(Chunk)}


def _dump_path(settings: IngestSettings) -> Path:
    return settings.data_dir / f"reindex-{settings.collection}.jsonl"


def reindex(
    settings: IngestSettings, encoders: Encoders, *, progress: bool = True
) -> dict[str, float]:
    """Rebuild the configured collection with `settings`' layout; returns ingest statistics."""
    dump = _dump_path(settings)
    if not dump.exists():  # a previous run may have dumped already: never dump a half-built store
        old = stored_layout(settings)
        if old is None:
            return {"chunks": 0.0, "seconds": 0.0, "chunks_per_s": 0.0}
        store = open_store(settings, old)
        try:
            payloads = store.scroll_payloads(PAYLOAD_FIELDS + DOCUMENT_FIELDS)
            rows = [{"id": pid, **payload} for pid, payload in payloads]
            dump.parent.mkdir(parents=True, exist_ok=True)
            tmp = dump.with_suffix(".tmp")
            tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
            tmp.replace(dump)
            store.drop()
        finally:
            store.close()
    chunks = [
        _chunk_from(json.loads(line))
        for line in dump.read_text().splitlines()
        if line.strip()
    ]
    store = open_store(settings, encoders.layout(settings))
    try:
        stored = {pid for pid, _ in store.scroll_payloads([])}
        stats = ingest_chunks([c for c in chunks if c.id not in stored], store, encoders, progress)
        store.optimize()
    finally:
        store.close()
    dump.unlink()
    return stats


def _chunk_from(row: dict[str, Any]) -> Chunk:
    """A dumped point back as the chunk ingest wrote. Its stored `groups` name the audience
    (PUBLIC for everyone); a chunk names only real groups, so PUBLIC is dropped here and
    `Chunk.payload()` stores it again for a chunk with no groups."""
    values = {k: v for k, v in row.items() if k in _CHUNK_FIELDS}
    if isinstance(values.get("groups"), list):
        values["groups"] = list(payload_groups(values["groups"]))
    return Chunk(**values)
