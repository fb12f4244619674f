"""The write path: files → text → token-aware chunks → vectors → the store, and the tools that
manage what is stored (the document library, re-index, export/import, offline models).

    from retrieval.ingest import ingest
    report = ingest([Path("docs")], store, encoder, settings)
    report.chunks_written
    # -> 42

It sits one layer above the engine (`retrieval`): it imports the engine's encoders, schema and
stores, and the engine never imports it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrieval.ingest.library import DocumentInfo
    from retrieval.ingest.loaders import SUPPORTED_SUFFIXES, LoadError, doc_id_for
    from retrieval.ingest.offline import OfflineModels, assemble_offline_models
    from retrieval.ingest.pipeline import (
        DocumentEncoder,
        FileResult,
        IngestReport,
        ingest,
        ingest_chunks,
    )
    from retrieval.ingest.settings import IngestSettings

# Lazy re-exports (PEP 562), as in `retrieval`: importing the package costs nothing until a name
# is used.
_EXPORTS = {
    "DocumentEncoder": "pipeline",
    "FileResult": "pipeline",
    "IngestReport": "pipeline",
    "ingest": "pipeline",
    "ingest_chunks": "pipeline",
    "DocumentInfo": "library",
    "SUPPORTED_SUFFIXES": "loaders",
    "LoadError": "loaders",
    "doc_id_for": "loaders",
    "OfflineModels": "offline",
    "assemble_offline_models": "offline",
    "IngestSettings": "settings",
}
__all__ = [
    "SUPPORTED_SUFFIXES",
    "DocumentEncoder",
    "DocumentInfo",
    "FileResult",
    "IngestReport",
    "IngestSettings",
    "LoadError",
    "OfflineModels",
    "assemble_offline_models",
    "doc_id_for",
    "ingest",
    "ingest_chunks",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"retrieval.ingest.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'retrieval.ingest' has no attribute {name!r}")
