"""Token-length batches from a bounded window (`retrieval.batching`), and what ingest does with
them on the real encoders and the real embedded store: the same vectors as the previous
character-length batching, less padding, a bounded window, every chunk stored."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from retrieval.batching import length_batches
from retrieval.encoders import Encoders
from retrieval.ingest.pipeline import ingest_chunks
from retrieval.stores import open_store
from retrieval.types import Chunk, ChunkVectors
from tests.conftest import make_settings

WORDS = [
    "lighthouse",
    "keeper",
    "lamp",
    "storm",
    "harbour",
    "ship",
    "rock",
    "tower",
    "light",
    "beam",
    "coast",
    "night",
]


def _texts(n: int, seed: int = 0) -> list[str]:
    """Texts of very mixed lengths (2 to ~600 words, some past the model's 512 tokens)."""
    rng = random.Random(seed)
    return [
        f"text {i}: " + " ".join(rng.choice(WORDS) for _ in range(rng.choice([2, 9, 40, 120, 600])))
        for i in range(n)
    ]


class TestLengthBatches:
    def test_every_item_once_within_the_caps_sorted_per_window(self) -> None:
        rng = random.Random(1)
        lengths = [rng.randint(1, 300) for _ in range(500)]
        batches = list(
            length_batches(
                range(500),
                lambda idx: [lengths[i] for i in idx],
                batch_size=16,
                max_tokens=1024,
                window=100,
            )
        )
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(500))
        for b in batches:
            assert len(b) <= 16
            assert max(lengths[i] for i in b) * len(b) <= 1024
        for start in range(0, 500, 100):  # each window's items leave shortest first
            window = [i for i in flat if start <= i < start + 100]
            assert [lengths[i] for i in window] == sorted(lengths[i] for i in window)
            assert window == flat[start : start + 100]  # and windows never mix

    def test_an_item_over_the_budget_is_a_batch_of_its_own(self) -> None:
        lengths = {"a": 5, "huge": 50, "b": 6}
        batches = list(
            length_batches(
                ["a", "huge", "b"],
                lambda xs: [lengths[x] for x in xs],
                batch_size=8,
                max_tokens=20,
                window=3,
            )
        )
        assert batches == [["a", "b"], ["huge"]]

    def test_streams_one_window_at_a_time(self) -> None:
        pulled = 0

        def items() -> Iterator[int]:
            nonlocal pulled
            for i in range(1000):
                pulled += 1
                yield i

        batches = length_batches(
            items(), lambda xs: [1] * len(xs), batch_size=4, max_tokens=100, window=10
        )
        assert next(batches) == [0, 1, 2, 3]
        assert pulled == 10

    @pytest.mark.parametrize("arg", ["batch_size", "max_tokens", "window"])
    def test_non_positive_sizes_are_rejected(self, arg: str) -> None:
        sizes = {"batch_size": 4, "max_tokens": 100, "window": 10} | {arg: 0}
        with pytest.raises(ValueError, match="must be >= 1"):
            list(length_batches([1, 2], lambda xs: [1] * len(xs), **sizes))


def _assert_equal(a: ChunkVectors, b: ChunkVectors) -> None:
    np.testing.assert_array_equal(a.dense, b.dense)
    np.testing.assert_array_equal(a.colbert, b.colbert)
    assert a.sparse == b.sparse


class TestEncoderBatching:
    def test_token_counts_are_what_the_model_sees(self, encoders: Encoders) -> None:
        short, long = encoders.token_counts(["lighthouse keeper", "light " * 2000])
        assert short == 4  # [CLS] lighthouse keeper [SEP]
        assert long == 512  # truncated as the model truncates

    def test_vectors_equal_the_previous_character_batching(
        self, encoders: Encoders, offline_model_dirs, tmp_path: Path
    ) -> None:
        """Batching by tokens under a budget changes the speed, never a stored vector."""
        texts = _texts(40)
        # Before: sorted by characters, fixed batches of 32, each one padded transformer call.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        before: dict[int, ChunkVectors] = {}
        for k in range(0, len(order), 32):
            idx = order[k : k + 32]
            before.update(zip(idx, encoders.encode_batch([texts[i] for i in idx]), strict=True))
        settings = make_settings(offline_model_dirs, tmp_path, encode_max_tokens=1024)
        after = encoders.configured(settings).encode_documents(texts)
        for i, vectors in enumerate(after):
            _assert_equal(vectors, before[i])

    def test_token_sorted_batches_carry_less_padding(self, encoders: Encoders) -> None:
        texts = _texts(200, seed=3)
        counts = encoders.token_counts(texts)

        def padded(batches: Sequence[Sequence[int]]) -> int:
            return sum(max(counts[i] for i in b) * len(b) for b in batches)

        by_chars = sorted(range(200), key=lambda i: len(texts[i]))
        before = [by_chars[k : k + 32] for k in range(0, 200, 32)]
        ideal = sorted(range(200), key=lambda i: counts[i])
        after = list(
            length_batches(
                range(200),
                lambda idx: [counts[i] for i in idx],
                batch_size=32,
                max_tokens=10**9,
                window=200,
            )
        )
        assert padded(after) == padded([ideal[k : k + 32] for k in range(0, 200, 32)])
        assert padded(after) <= padded(before)


def test_ingest_streams_bounded_batches_and_stores_every_chunk(
    encoders: Encoders, offline_model_dirs, tmp_path: Path
) -> None:
    settings = make_settings(offline_model_dirs, tmp_path / "data")
    texts = _texts(30, seed=5)
    chunks = [
        Chunk(
            id=f"00000000-0000-0000-0000-{i:012d}",
            doc_id=f"d{i}",
            source=f"doc{i}.txt",
            title=f"doc {i}",
            text=t,
            chunk_index=0,
            chunk_count=1,
            char_start=0,
            char_end=len(t),
            file_hash="h",
        )
        for i, t in enumerate(texts)
    ]
    seen: list[list[str]] = []

    class Watching:
        batch_size = 8
        max_batch_tokens = 600

        def token_counts(self, batch: Sequence[str]) -> list[int]:
            return encoders.token_counts(batch)

        def encode_batch(self, batch: Sequence[str]) -> list[ChunkVectors]:
            seen.append(list(batch))
            return encoders.encode_batch(batch)

        def encode_documents(self, batch: Sequence[str]) -> list[ChunkVectors]:
            raise AssertionError("ingest encodes the batches it forms")

    store = open_store(settings, encoders.layout(settings))
    try:
        stats = ingest_chunks(iter(chunks), store, Watching(), progress=False, window=10)
        assert stats["chunks"] == 30 and store.count() == 30
    finally:
        store.close()
    assert sorted(t for b in seen for t in b) == sorted(texts)
    for batch in seen:
        counts = encoders.token_counts(batch)
        assert len(batch) <= 8
        assert len(batch) == 1 or max(counts) * len(batch) <= 600
    # Windows of 10 in input order: no batch mixes chunks of two windows.
    window_of = {t: i // 10 for i, t in enumerate(texts)}
    assert all(len({window_of[t] for t in b}) == 1 for b in seen)
