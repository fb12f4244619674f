"""Token pooling: how many vectors it keeps, what they are, and that MaxSim survives it."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.encoders import Encoders
from retrieval.pooling import pool_tokens, pooled_count

PASSAGES = [
    "Ada Lovelace was born on 10 December 1815 in London. She wrote the first published "
    "algorithm for Charles Babbage's Analytical Engine, and is often called the first "
    "computer programmer.",
    "Photosynthesis in chloroplasts turns light, water and carbon dioxide into glucose and "
    "oxygen; chlorophyll absorbs red and blue light and reflects green.",
    "Bulk fermentation: leave the sourdough at 24 to 26 degrees for four to five hours, with a "
    "set of stretch and folds every half hour during the first two hours.",
]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def token_vectors(encoders: Encoders) -> list[np.ndarray]:
    return [v.colbert for v in encoders.encode_documents(PASSAGES)]


class TestArguments:
    @pytest.mark.parametrize("factor", [0, -2, 1.5])
    def test_factor_must_be_a_positive_integer(self, factor: object) -> None:
        with pytest.raises(ValueError, match="pool factor"):
            pool_tokens(np.ones((4, 3), dtype=np.float32), factor)  # type: ignore[arg-type]

    def test_input_must_be_a_token_matrix(self) -> None:
        with pytest.raises(ValueError, match="tokens, dim"):
            pool_tokens(np.ones(8, dtype=np.float32), 2)


class TestCount:
    @pytest.mark.parametrize("factor", [2, 3, 4])
    @pytest.mark.parametrize("n", [5, 17, 64, 285])
    def test_reduces_the_count_by_the_factor(self, n: int, factor: int) -> None:
        tokens = np.random.default_rng(n).normal(size=(n, 24)).astype(np.float32)
        pooled = pool_tokens(tokens, factor)
        assert len(pooled) == pooled_count(n, factor)
        assert abs(len(pooled) - n / factor) <= 1
        assert pooled.shape[1] == 24 and pooled.dtype == np.float32

    def test_real_token_vectors_shrink_by_the_factor(self, token_vectors: list[np.ndarray]) -> None:
        for tokens in token_vectors:
            for factor in (2, 3):
                assert abs(len(pool_tokens(tokens, factor)) - len(tokens) / factor) <= 1

    def test_factor_one_is_the_identity(self, token_vectors: list[np.ndarray]) -> None:
        np.testing.assert_array_equal(pool_tokens(token_vectors[0], 1), token_vectors[0])

    @pytest.mark.parametrize("n", [1, 2])
    def test_too_few_tokens_to_merge_are_kept(self, n: int) -> None:
        tokens = _unit(np.random.default_rng(0).normal(size=(n, 8))).astype(np.float32)
        np.testing.assert_array_equal(pool_tokens(tokens, 3), tokens)


class TestVectors:
    def test_every_vector_has_unit_norm(self, token_vectors: list[np.ndarray]) -> None:
        for tokens in token_vectors:
            norms = np.linalg.norm(pool_tokens(tokens, 2), axis=1)
            np.testing.assert_allclose(norms, 1.0, atol=1e-5)

    def test_first_token_is_kept_as_it_is(self, token_vectors: list[np.ndarray]) -> None:
        tokens = token_vectors[0]
        np.testing.assert_allclose(pool_tokens(tokens, 3)[0], tokens[0], atol=1e-6)

    def test_deterministic(self, token_vectors: list[np.ndarray]) -> None:
        tokens = token_vectors[1]
        np.testing.assert_array_equal(pool_tokens(tokens, 2), pool_tokens(tokens.copy(), 2))

    def test_clusters_of_near_duplicates_become_their_directions(self) -> None:
        rng = np.random.default_rng(3)
        directions = _unit(rng.normal(size=(4, 16)))
        # [CLS], then 4 well-separated groups of 3 near-identical tokens, shuffled.
        members = np.repeat(directions, 3, axis=0) + rng.normal(scale=1e-3, size=(12, 16))
        tokens = np.vstack([_unit(rng.normal(size=(1, 16))), rng.permutation(members)])
        pooled = pool_tokens(tokens.astype(np.float32), 3)
        assert len(pooled) == 1 + 4
        # Each cluster mean is one of the directions, and every direction is represented.
        similarity = pooled[1:] @ directions.T
        assert similarity.max(axis=1).min() > 0.999
        assert sorted(similarity.argmax(axis=1)) == [0, 1, 2, 3]

    def test_maxsim_scores_barely_move(self, encoders: Encoders, token_vectors) -> None:
        """A pooled document still scores its own question highest, within 10% of the full score."""
        questions = [
            "Who wrote the first algorithm?",
            "Why do leaves look green?",
            "How long is bulk fermentation?",
        ]
        for i, question in enumerate(questions):
            q = encoders.encode_query(question, dense=False, sparse=False).colbert
            full = [(q @ d.T).max(axis=1).sum() for d in token_vectors]
            pooled = [(q @ pool_tokens(d, 2).T).max(axis=1).sum() for d in token_vectors]
            assert int(np.argmax(pooled)) == int(np.argmax(full)) == i
            assert 0.9 < pooled[i] / full[i] < 1.1
