"""The index-time options applied to freshly encoded vectors: token pooling and MUVERA.

Encoders call these right after the transformer pass, so every path that stores vectors (ingest,
re-index, evaluation) stores the same thing, and every query gets the matching MUVERA vector.

>>> from retrieval.settings import RetrievalSettings
>>> s = RetrievalSettings(_env_file=None, pool_factor=2, muvera=True)
>>> tokens = np.random.default_rng(0).normal(size=(9, 32)).astype(np.float32)
>>> doc = apply_index_time_options(ChunkVectors(colbert=tokens), s)
>>> doc.colbert.shape, doc.muvera.shape == (muvera_dim(s, 32),)
((5, 32), True)
>>> query_muvera(ChunkVectors(colbert=tokens[:4]), s).muvera.shape
(10240,)
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np

from retrieval.muvera import MuveraEncoder
from retrieval.pooling import pool_tokens
from retrieval.settings import RetrievalSettings
from retrieval.types import ChunkVectors


@lru_cache(maxsize=8)
def muvera_encoder(colbert_dim: int) -> MuveraEncoder:
    """The one MUVERA encoder for token vectors of this size (fixed parameters and seed)."""
    return MuveraEncoder(token_dim=colbert_dim)


def muvera_dim(settings: RetrievalSettings, colbert_dim: int) -> int | None:
    """Size of the stored `muvera` vector, or None when the setting is off (for the layout)."""
    return muvera_encoder(colbert_dim).dim if settings.muvera else None


def apply_index_time_options(vectors: ChunkVectors, settings: RetrievalSettings) -> ChunkVectors:
    """A document chunk's vectors as the collection stores them.

    MUVERA is computed from the full token set (its region means are what approximates MaxSim),
    then the token vectors are pooled by `settings.pool_factor`.
    """
    tokens = vectors.colbert
    if tokens is None or (settings.pool_factor == 1 and not settings.muvera):
        return vectors
    muvera = (
        muvera_encoder(tokens.shape[1]).encode_document(tokens)
        if settings.muvera
        else vectors.muvera
    )
    return replace(vectors, colbert=pool_tokens(tokens, settings.pool_factor), muvera=muvera)


def query_muvera(vectors: ChunkVectors, settings: RetrievalSettings) -> ChunkVectors:
    """Query vectors plus the query's MUVERA vector when the setting is on (and tokens exist).

    Queries are never pooled: every query token takes part in MaxSim.
    """
    if not settings.muvera or vectors.colbert is None:
        return vectors
    tokens = np.asarray(vectors.colbert, dtype=np.float32)
    return replace(vectors, muvera=muvera_encoder(tokens.shape[1]).encode_query(tokens))
