"""The write path's settings: how files become chunks, and what a file may cost."""

from __future__ import annotations

from pydantic import Field

from retrieval.settings import RetrievalSettings


class IngestSettings(RetrievalSettings):
    """Chunking and file limits, on top of the engine's settings."""

    chunk_tokens: int = Field(256, ge=16, description="Tokens per chunk.")
    chunk_overlap: int = Field(32, ge=0, description="Tokens two neighbouring chunks share.")
    max_file_mb: float = Field(50.0, gt=0, description="Files larger than this (MB) are skipped.")
    encode_window: int = Field(
        1024,
        ge=1,
        description="Chunks sorted by token length together during ingest (bounded: streaming).",
    )
