"""MUVERA: one fixed-size vector per multivector, so a single-vector search can prefetch for MaxSim.

Dhulipala et al. (2024), "MUVERA: Multi-Vector Retrieval via Fixed Dimensional Encodings", as
fastembed implements it (`fastembed.postprocess.Muvera`): SimHash partitions token space into
`2**k_sim` regions, each region keeps the mean (document) or sum (query) of its tokens, randomly
projected to `dim_proj` dimensions; `repetitions` independent draws are concatenated. The dot
product of a query encoding with a document encoding approximates their MaxSim.

The random hyperplanes and projections come from fastembed's `Muvera` with a fixed seed, so the
same parameters always give the same encoding and the dimension is known before anything is
encoded. fastembed's own `process_document` loops over tokens in Python (~50 ms for a 285-token
abstract); `encode_document` computes the identical encoding with array operations (a few ms),
and the tests check the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from fastembed.postprocess import Muvera
from scipy.sparse import csr_matrix

# fastembed's defaults, also the ones of Qdrant's MUVERA article: 2**5 regions × 16 dims × 20
# repetitions = 10,240 dimensions, whatever the token vector size.
K_SIM = 5
DIM_PROJ = 16
REPETITIONS = 20
SEED = 42


@dataclass(frozen=True)
class MuveraEncoder:
    """Fixed-dimensional encodings of token vectors of size `token_dim`.

    >>> enc = MuveraEncoder(token_dim=32)
    >>> enc.dim
    10240
    >>> tokens = np.random.default_rng(0).normal(size=(7, 32))
    >>> enc.encode_document(tokens).shape, enc.encode_query(tokens[:3]).dtype
    ((10240,), dtype('float32'))
    """

    token_dim: int
    k_sim: int = K_SIM
    dim_proj: int = DIM_PROJ
    repetitions: int = REPETITIONS
    seed: int = SEED

    def __post_init__(self) -> None:
        if self.dim_proj > self.token_dim:
            raise ValueError(
                f"MUVERA cannot project {self.token_dim}-d token vectors up to dim_proj="
                f"{self.dim_proj}; use dim_proj <= {self.token_dim}."
            )

    @property
    def dim(self) -> int:
        return int(self.repetitions * 2**self.k_sim * self.dim_proj)

    @cached_property
    def reference(self) -> Muvera:
        """fastembed's postprocessor with these parameters: the source of the random draws."""
        return Muvera(
            dim=self.token_dim,
            k_sim=self.k_sim,
            dim_proj=self.dim_proj,
            r_reps=self.repetitions,
            random_seed=self.seed,
        )

    @cached_property
    def _hyperplanes(self) -> np.ndarray:  # [token_dim, repetitions * k_sim]
        return np.concatenate([p.simhash_vectors for p in self.reference.simhash_projections], 1)

    @cached_property
    def _projections(self) -> np.ndarray:  # [repetitions, token_dim, dim_proj]
        return self.reference.dim_reduction_projections.astype(np.float64)

    def encode_document(self, tokens: np.ndarray) -> np.ndarray:
        """A document's encoding: region means, empty regions filled from the nearest region."""
        return self._encode(tokens, document=True)

    def encode_query(self, tokens: np.ndarray) -> np.ndarray:
        """A query's encoding: region sums, empty regions left at zero."""
        return self._encode(tokens, document=False)

    def _encode(self, tokens: np.ndarray, *, document: bool) -> np.ndarray:
        vectors = np.asarray(tokens, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.token_dim or len(vectors) == 0:
            raise ValueError(
                f"MUVERA needs a non-empty [tokens, {self.token_dim}] array, got shape "
                f"{vectors.shape}."
            )
        n, reps, regions = len(vectors), self.repetitions, 2**self.k_sim
        # Region of each token in each repetition: the sign pattern over that draw's hyperplanes.
        signs = (vectors @ self._hyperplanes > 0).reshape(n, reps, self.k_sim)
        region = signs @ (1 << np.arange(self.k_sim))  # [n, reps]
        flat = (np.arange(reps) * regions + region).T.reshape(-1)  # rep-major, token order
        token = np.tile(np.arange(n), reps)
        # Sum per (repetition, region) as one sparse membership × tokens product.
        member = csr_matrix(
            (np.ones(len(flat)), (flat, token)), shape=(reps * regions, n), dtype=np.float64
        )
        centers = np.asarray(member @ vectors.astype(np.float64))
        if document:
            counts = np.bincount(flat, minlength=reps * regions)
            occupied = counts > 0
            centers[occupied] /= counts[occupied, None]
            # A stable sort keeps token order inside each region's run: the run's head is the
            # region's first token, which fastembed uses to fill empty regions.
            order = np.argsort(flat, kind="stable")
            keys = flat[order]
            heads = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
            first_token = np.full(reps * regions, -1)
            first_token[keys[heads]] = token[order][heads]
            self._fill_empty(centers, first_token, vectors)
        centers = centers.reshape(reps, regions, self.token_dim)
        if self.dim_proj < self.token_dim:
            centers = (centers @ self._projections) / np.sqrt(self.dim_proj)
        return centers.reshape(-1).astype(np.float32)

    def _fill_empty(
        self, centers: np.ndarray, first_token: np.ndarray, vectors: np.ndarray
    ) -> None:
        """An empty region takes the first token of the occupied region at the smallest Hamming
        distance (ties to the lowest region id), as fastembed does."""
        regions = 2**self.k_sim
        ids = np.arange(regions)
        popcount = np.array([bin(i).count("1") for i in range(regions)])
        for rep in range(self.repetitions):
            firsts = first_token[rep * regions : (rep + 1) * regions]
            occupied_mask = firsts >= 0
            if occupied_mask.all():
                continue
            occupied, empty = ids[occupied_mask], ids[~occupied_mask]
            nearest = occupied[np.argmin(popcount[empty[:, None] ^ occupied[None, :]], axis=1)]
            centers[rep * regions + empty] = vectors[firsts[nearest]]
