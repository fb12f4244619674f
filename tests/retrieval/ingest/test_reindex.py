"""`reindex`: a store built with one layout is rebuilt for another, keeping every chunk."""

from __future__ import annotations

import pytest

from retrieval.encoders import Encoders
from retrieval.errors import LayoutMismatchError
from retrieval.ingest.reindex import reindex
from retrieval.stores import open_store, stored_layout
from retrieval.types import PAYLOAD_FIELDS, Chunk
from tests.conftest import make_settings


def _chunks() -> list[Chunk]:
    texts = [
        "Ada Lovelace was born in 1815.",
        "Lighthouses guide ships at night.",
        "Sourdough uses wild yeast.",
    ]
    return [
        Chunk(
            id=f"00000000-0000-0000-0000-00000000000{i}",
            doc_id=str(i),
            source=f"d{i}.md",
            title=f"T{i}",
            text=t,
            chunk_index=0,
            chunk_count=1,
            char_start=0,
            char_end=len(t),
            file_hash="h",
        )
        for i, t in enumerate(texts)
    ]


def test_reindex_moves_every_chunk_to_the_new_layout(offline_model_dirs, tmp_path) -> None:
    before = make_settings(offline_model_dirs, tmp_path / "d")
    enc = Encoders(before)
    store = open_store(before, enc.layout(before))
    store.upsert(_chunks(), enc.encode_documents([c.text for c in _chunks()]))
    old_payloads = dict(store.scroll_payloads(PAYLOAD_FIELDS))
    store.close()

    after = make_settings(
        offline_model_dirs, tmp_path / "d", pool_factor=2, colbert_datatype="float16"
    )
    enc2 = Encoders(after)
    with pytest.raises(LayoutMismatchError, match="pool_factor.*msrag reindex|msrag reindex"):
        open_store(after, enc2.layout(after))
    stats = reindex(after, enc2, progress=False)
    assert stats["chunks"] == 3
    assert stored_layout(after) == enc2.layout(after)
    store = open_store(after, enc2.layout(after))
    try:
        assert dict(store.scroll_payloads(PAYLOAD_FIELDS)) == old_payloads
    finally:
        store.close()
    assert not list((tmp_path / "d").glob("reindex-*"))  # the dump is gone after success
