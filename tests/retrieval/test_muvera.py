"""MUVERA encodings: dimension, determinism, agreement with fastembed, and what they approximate."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.encoders import Encoders
from retrieval.muvera import MuveraEncoder

PASSAGES = [
    "Ada Lovelace was born on 10 December 1815 in London and wrote the first published algorithm.",
    "Photosynthesis in chloroplasts turns light, water and carbon dioxide into glucose.",
    "Leave the sourdough to ferment at 24 to 26 degrees for four to five hours.",
    "The Cape Wrath lighthouse was built in 1828 by Robert Stevenson.",
    "Northwind Kites gives every employee 25 days of paid holiday a year.",
    "Water the pothos once a week, on Mondays; snake plants every three weeks.",
]
QUESTIONS = [
    ("When was Ada Lovelace born?", 0),
    ("What does photosynthesis produce?", 1),
    ("How warm should sourdough ferment?", 2),
    ("Who built the Cape Wrath lighthouse?", 3),
]


@pytest.fixture(scope="module")
def docs(encoders: Encoders) -> list[np.ndarray]:
    return [v.colbert for v in encoders.encode_documents(PASSAGES)]


@pytest.fixture(scope="module")
def queries(encoders: Encoders) -> list[np.ndarray]:
    return [encoders.encode_query(q, dense=False, sparse=False).colbert for q, _ in QUESTIONS]


class TestConfiguration:
    def test_default_dimension(self, encoders: Encoders, docs: list[np.ndarray]) -> None:
        enc = MuveraEncoder(encoders.colbert_dim)
        assert enc.dim == 20 * 2**5 * 16 == 10_240
        assert enc.encode_document(docs[0]).shape == (enc.dim,)

    @pytest.mark.parametrize(("k_sim", "dim_proj", "reps"), [(3, 8, 4), (4, 16, 10), (2, 32, 1)])
    def test_configured_dimension(self, k_sim: int, dim_proj: int, reps: int) -> None:
        enc = MuveraEncoder(32, k_sim=k_sim, dim_proj=dim_proj, repetitions=reps)
        tokens = np.random.default_rng(0).normal(size=(9, 32))
        assert enc.dim == reps * 2**k_sim * dim_proj
        assert enc.encode_document(tokens).shape == enc.encode_query(tokens).shape == (enc.dim,)
        assert enc.encode_document(tokens).dtype == np.float32

    def test_projection_cannot_grow_the_vectors(self) -> None:
        with pytest.raises(ValueError, match="dim_proj"):
            MuveraEncoder(8, dim_proj=16)

    @pytest.mark.parametrize("shape", [(0, 32), (4, 31), (32,)])
    def test_rejects_wrong_token_arrays(self, shape: tuple[int, ...]) -> None:
        with pytest.raises(ValueError, match="tokens, 32"):
            MuveraEncoder(32).encode_document(np.ones(shape))


class TestEncoding:
    def test_deterministic_across_instances(self, encoders: Encoders, docs) -> None:
        a, b = MuveraEncoder(encoders.colbert_dim), MuveraEncoder(encoders.colbert_dim)
        np.testing.assert_array_equal(a.encode_document(docs[0]), b.encode_document(docs[0]))
        np.testing.assert_array_equal(a.encode_query(docs[1][:5]), b.encode_query(docs[1][:5]))

    def test_another_seed_gives_another_encoding(self, docs) -> None:
        dim = docs[0].shape[1]
        a, b = MuveraEncoder(dim), MuveraEncoder(dim, seed=7)
        assert not np.allclose(a.encode_document(docs[0]), b.encode_document(docs[0]))

    @pytest.mark.parametrize("n_tokens", [1, 2, 7, 40, 300])
    def test_matches_fastembed_postprocessor(self, n_tokens: int) -> None:
        """Few tokens leave most regions empty, which exercises the nearest-region filling."""
        enc = MuveraEncoder(64)
        tokens = np.random.default_rng(n_tokens).normal(size=(n_tokens, 64)).astype(np.float32)
        tokens /= np.linalg.norm(tokens, axis=1, keepdims=True)
        np.testing.assert_allclose(
            enc.encode_document(tokens), enc.reference.process_document(tokens), atol=1e-6
        )
        np.testing.assert_allclose(
            enc.encode_query(tokens), enc.reference.process_query(tokens), atol=1e-6
        )

    def test_matches_fastembed_on_real_token_vectors(self, docs, queries) -> None:
        enc = MuveraEncoder(docs[0].shape[1])
        for d in docs:
            np.testing.assert_allclose(
                enc.encode_document(d), enc.reference.process_document(d), atol=1e-6
            )
        for q in queries:
            np.testing.assert_allclose(
                enc.encode_query(q), enc.reference.process_query(q), atol=1e-6
            )

    def test_dot_product_finds_the_maxsim_winner(self, docs, queries) -> None:
        """What MUVERA is for: ranking by encoding similarity puts MaxSim's best passage on top."""
        enc = MuveraEncoder(docs[0].shape[1])
        doc_fdes = np.stack([enc.encode_document(d) for d in docs])
        for q, (_, expected) in zip(queries, QUESTIONS, strict=True):
            maxsim = [(q @ d.T).max(axis=1).sum() for d in docs]
            assert int(np.argmax(maxsim)) == expected
            assert int(np.argmax(doc_fdes @ enc.encode_query(q))) == expected
