"""Multi-stage, late-interaction retrieval over Qdrant, usable as a LlamaIndex retriever.

    from retrieval import MultiStageRetriever, RetrievalSettings
    retriever = MultiStageRetriever.from_settings(RetrievalSettings())
    hits = retriever.retrieve("How does MaxSim score a passage?")
    hits[0].node.metadata["source"]
    # -> 'docs/colbert.md'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time the names load on first use
    from retrieval.alignment import align
    from retrieval.encoders import Encoders, TokenMatch
    from retrieval.errors import (
        EmptyQueryError,
        LayoutMismatchError,
        ModelUnavailableError,
        QueryTooLongError,
        RetrievalError,
        StoreCorruptError,
        StoreFullError,
        StoreLockedError,
        StoreUnavailableError,
        UnknownDocumentError,
    )
    from retrieval.modes import MODE_SPECS, MODES, ModeSpec, mode_spec
    from retrieval.retriever import MultiStageRetriever, Retrieval, check_query
    from retrieval.schema import Layout
    from retrieval.settings import RetrievalSettings
    from retrieval.stores import Store, open_store
    from retrieval.types import Chunk, ChunkVectors, Filter, Passage, QueryPlan, SparseVector

# Lazy re-exports (PEP 562): `from retrieval.settings import RetrievalSettings` should not load
# fastembed, onnxruntime and the Qdrant engine. The write path (loading, chunking, ingesting,
# re-indexing, moving a store) is the sub-package `retrieval.ingest`, a layer above this one.
_EXPORTS = {
    "MultiStageRetriever": "retriever",
    "Retrieval": "retriever",
    "check_query": "retriever",
    "Encoders": "encoders",
    "TokenMatch": "encoders",
    "align": "alignment",
    "RetrievalSettings": "settings",
    "MODES": "modes",
    "MODE_SPECS": "modes",
    "ModeSpec": "modes",
    "mode_spec": "modes",
    "Chunk": "types",
    "ChunkVectors": "types",
    "Filter": "types",
    "Passage": "types",
    "QueryPlan": "types",
    "SparseVector": "types",
    "Layout": "schema",
    "open_store": "stores",
    "Store": "stores",
    **dict.fromkeys(
        (
            "RetrievalError",
            "ModelUnavailableError",
            "StoreUnavailableError",
            "StoreLockedError",
            "StoreFullError",
            "StoreCorruptError",
            "LayoutMismatchError",
            "QueryTooLongError",
            "EmptyQueryError",
            "UnknownDocumentError",
        ),
        "errors",
    ),
}
__all__ = [
    "MODES",
    "MODE_SPECS",
    "Chunk",
    "ChunkVectors",
    "EmptyQueryError",
    "Encoders",
    "Filter",
    "Layout",
    "LayoutMismatchError",
    "ModeSpec",
    "ModelUnavailableError",
    "MultiStageRetriever",
    "Passage",
    "QueryPlan",
    "QueryTooLongError",
    "Retrieval",
    "RetrievalError",
    "RetrievalSettings",
    "SparseVector",
    "Store",
    "StoreCorruptError",
    "StoreFullError",
    "StoreLockedError",
    "StoreUnavailableError",
    "TokenMatch",
    "UnknownDocumentError",
    "align",
    "check_query",
    "mode_spec",
    "open_store",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"retrieval.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'retrieval' has no attribute {name!r}")
