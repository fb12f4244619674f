"""The store's RAM/disk footprint and the "outgrown its layout" advice
(`retrieval.ingest.footprint`), and the numbers `msrag status` derives from a real store."""

from __future__ import annotations

from dataclasses import replace

import pytest

from msrag.settings import Settings
from retrieval.encoders import Encoders
from retrieval.ingest.footprint import IN_RAM_LIMIT, ON_DISK_LIMIT, estimate
from retrieval.schema import Layout
from retrieval.stores import open_store
from tests.conftest import make_settings

BASE = Layout("d", "s", "c", 384, 384, colbert_datatype="float16", pool_factor=3)


class TestEstimate:
    def test_token_vectors_count_at_their_datatype_after_pooling(self) -> None:
        f = estimate(BASE, points=1000, tokens_per_chunk=285, disk_bytes=None)
        assert f.tokens_per_chunk == 95  # pooled_count(285, 3)
        assert f.colbert_bytes == 1000 * 95 * 384 * 2
        assert f.ram_bytes == f.colbert_bytes + 1000 * 384 * 4  # + float32 dense
        uint8 = estimate(
            replace(BASE, colbert_datatype="uint8"),
            points=1000,
            tokens_per_chunk=285,
            disk_bytes=None,
        )
        assert uint8.colbert_bytes * 2 == f.colbert_bytes

    def test_on_disk_token_vectors_leave_ram(self) -> None:
        f = estimate(
            replace(BASE, colbert_on_disk=True),
            points=1000,
            tokens_per_chunk=285,
            disk_bytes=10 * 2**20,
        )
        assert f.ram_bytes == 1000 * 384 * 4
        assert "on disk" in f.describe() and "10 MB on disk" in f.describe()

    def test_quantized_and_muvera_copies_are_counted(self) -> None:
        plain = estimate(BASE, points=10, tokens_per_chunk=100, disk_bytes=None)
        more = estimate(
            replace(BASE, colbert_quantization="int8", dense_quantization="int8", muvera_dim=64),
            points=10,
            tokens_per_chunk=100,
            disk_bytes=None,
        )
        assert more.colbert_bytes == plain.colbert_bytes * 3 // 2  # float16 + an int8 copy
        assert more.ram_bytes - more.colbert_bytes == 10 * (384 * 5 + 64 * 4)

    @pytest.mark.parametrize("datatype", ["float32", "float16", "uint8"])
    def test_advice_only_past_the_in_ram_limit(self, datatype: str) -> None:
        layout = replace(BASE, colbert_datatype=datatype)
        limit = IN_RAM_LIMIT[datatype]
        assert (
            estimate(layout, points=limit, tokens_per_chunk=285, disk_bytes=None).advice() is None
        )
        advice = estimate(layout, points=limit + 1, tokens_per_chunk=285, disk_bytes=None).advice()
        assert advice is not None and "MSRAG_COLBERT_ON_DISK=true" in advice
        assert "msrag reindex" in advice
        assert ("MSRAG_COLBERT_DATATYPE=uint8" in advice) == (datatype != "uint8")
        on_disk = replace(layout, colbert_on_disk=True)
        assert estimate(on_disk, points=limit, tokens_per_chunk=285, disk_bytes=None).advice() is (
            None
        )

    @pytest.mark.parametrize("datatype", ["float32", "float16", "uint8"])
    def test_on_disk_advice_is_uint8_past_its_limit(self, datatype: str) -> None:
        on_disk = replace(BASE, colbert_datatype=datatype, colbert_on_disk=True)
        assert (
            estimate(on_disk, points=ON_DISK_LIMIT, tokens_per_chunk=285, disk_bytes=None).advice()
            is None
        )
        past = estimate(on_disk, points=ON_DISK_LIMIT + 1, tokens_per_chunk=285, disk_bytes=None)
        advice = past.advice()
        if datatype == "uint8":
            assert advice is None  # nothing smaller at the same quality
        else:
            assert advice is not None and "MSRAG_COLBERT_DATATYPE=uint8" in advice
            assert "msrag reindex" in advice and "MSRAG_COLBERT_ON_DISK" not in advice


def test_estimate_of_a_real_store_matches_its_stored_tokens(
    encoders: Encoders, offline_model_dirs, tmp_path
) -> None:
    """Token counts from the tokenizer predict the stored token vectors within punctuation."""
    settings: Settings = make_settings(offline_model_dirs, tmp_path, pool_factor=1)
    texts = [
        "Lighthouses guide ships along dangerous coasts at night.",
        "A keeper trimmed the lamp's wick and wound the clockwork every four hours.",
    ]
    vectors = encoders.encode_documents(texts)
    stored = sum(len(v.colbert) for v in vectors) / len(vectors)
    counts = encoders.token_counts(texts)
    store = open_store(settings, encoders.layout(settings))
    try:
        f = estimate(
            store.layout, points=2, tokens_per_chunk=sum(counts) / 2, disk_bytes=store.disk_bytes()
        )
    finally:
        store.close()
    # fastembed drops punctuation tokens from stored documents: the estimate is an upper bound
    assert stored <= f.tokens_per_chunk <= stored + 3
    assert f.disk_bytes and f.disk_bytes > 0
