"""Token pooling: fewer stored ColBERT vectors per chunk by merging similar tokens at index time.

The recipe of Clavié et al. (2024), "Reducing the Footprint of Multi-Vector Retrieval with Minimal
Performance Impact via Token Pooling" (answer.ai; PyLate's `pool_embeddings_hierarchical`): keep
the first token ([CLS]) as it is, cluster the others hierarchically with Ward's criterion into
`max(1, (n - 1) // factor)` clusters, and store each cluster's mean. Queries are never pooled.

Two deliberate differences from PyLate, both numerical:
- Ward runs on the unit token vectors themselves. For unit vectors the squared Euclidean distance
  is `2 * (1 - cosine)`, so this is Ward on cosine distance with the Euclidean geometry Ward's
  update formula assumes (PyLate hands the square `1 - cosine` matrix to `linkage`, which treats
  its rows as observations).
- The means are L2-normalised: the collection's cosine distance would normalise them anyway, and
  storing unit vectors keeps MaxSim scores readable as cosines (and uint8 storage well scaled).
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse import csr_matrix
from scipy.spatial.distance import squareform

# [CLS] carries the whole passage's summary in BERT-style encoders; the paper keeps it unpooled.
PROTECTED_TOKENS = 1


def pooled_count(n_tokens: int, factor: int) -> int:
    """How many vectors `pool_tokens` returns for `n_tokens` input vectors.

    >>> pooled_count(285, 2), pooled_count(285, 3), pooled_count(3, 4), pooled_count(7, 1)
    (143, 95, 2, 7)
    """
    _check_factor(factor)
    rest = n_tokens - PROTECTED_TOKENS
    if factor == 1 or rest <= 1:
        return n_tokens
    return PROTECTED_TOKENS + max(1, rest // factor)


def pool_tokens(vectors: np.ndarray, factor: int) -> np.ndarray:
    """One document's token vectors `[n, dim]` → about `n / factor` unit cluster means.

    Every returned vector has unit norm. Deterministic (Ward linkage has no randomness);
    `factor=1`, or too few tokens to merge, returns the input unchanged.

    >>> rng = np.random.default_rng(0)
    >>> tokens = rng.normal(size=(21, 8)).astype(np.float32)
    >>> pool_tokens(tokens, 2).shape
    (11, 8)
    """
    _check_factor(factor)
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"pool_tokens expects a [tokens, dim] array, got shape {array.shape}.")
    target = pooled_count(len(array), factor)
    if target == len(array):
        return array
    protected, rest = _unit(array[:PROTECTED_TOKENS]), _unit(array[PROTECTED_TOKENS:])
    clusters = target - PROTECTED_TOKENS
    # Euclidean distances between unit vectors from one matrix product: several times faster
    # than scipy's pdist, and the same linkage (to float rounding).
    squared = np.clip(2.0 - 2.0 * (rest @ rest.T), 0.0, None)
    distances = np.sqrt(squareform(squared, checks=False).astype(np.float64))
    labels = fcluster(linkage(distances, method="ward"), t=clusters, criterion="maxclust")
    # Sum each cluster's members with one sparse membership × tokens product.
    member = csr_matrix((np.ones(len(labels)), (labels - 1, np.arange(len(labels)))))
    sums = np.asarray(member @ rest.astype(np.float64))
    means = sums[np.bincount(labels - 1) > 0]  # maxclust may leave a label unused
    return np.concatenate([protected, _unit(means).astype(np.float32)])


def _unit(x: np.ndarray) -> np.ndarray:
    normalised: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return normalised


def _check_factor(factor: int) -> None:
    if not isinstance(factor, int | np.integer) or factor < 1:
        raise ValueError(f"pool factor must be an integer >= 1; got {factor!r}")
