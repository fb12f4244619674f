"""Multi-stage, late-interaction retrieval over Qdrant, usable as a LlamaIndex retriever.

    from retrieval import MultiStageRetriever, Settings
    retriever = MultiStageRetriever.from_settings(Settings())
    hits = retriever.retrieve("How does MaxSim score a passage?")
    hits[0].node.metadata["source"]
    # -> 'docs/colbert.md'
"""

from __future__ import annotations

import importlib
from typing import Any

# Lazy re-exports (PEP 562): `from retrieval.settings import Settings` should not load fastembed,
# onnxruntime and the Qdrant engine. (`ingest()` and `reindex()` share their modules' names, so they
# are imported from `retrieval.ingest` / `retrieval.reindex` directly.)
_EXPORTS = {
    "MultiStageRetriever": "retriever",
    "Retrieval": "retriever",
    "Encoders": "encoders",
    "TokenMatch": "encoders",
    "align": "alignment",
    "Settings": "settings",
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
    "ingest_chunks": "ingest",
    "IngestReport": "ingest",
    "assemble_offline_models": "offline",
    "OfflineModels": "offline",
    **dict.fromkeys(
        (
            "RetrievalError",
            "ModelUnavailableError",
            "StoreUnavailableError",
            "StoreLockedError",
            "LayoutMismatchError",
            "QueryTooLongError",
        ),
        "errors",
    ),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"retrieval.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'retrieval' has no attribute {name!r}")
