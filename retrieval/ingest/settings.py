"""The write path's settings: how files become chunks, and what a file may cost."""

from __future__ import annotations

from pydantic import Field

from retrieval.settings import RetrievalSettings


class IngestSettings(RetrievalSettings):
    """Chunking and file limits, on top of the engine's settings."""

    chunk_tokens: int = Field(256, ge=16, description="Tokens per chunk.")
    chunk_overlap: int = Field(32, ge=0, description="Tokens two neighbouring chunks share.")
    max_file_mb: float = Field(50.0, gt=0, description="Files larger than this (MB) are skipped.")
    # What one file may cost: a small PDF of 3,000 near-empty pages becomes ~9,000 chunks and
    # ~13 minutes of CPU, stalling the whole run. A book is a few hundred pages and a few
    # hundred to ~1,500 chunks at the default chunk size, so these leave room for real
    # documents and refuse runaway ones before anything is encoded.
    max_file_pages: int = Field(
        1000, ge=1, description="Files with more pages than this are refused before encoding."
    )
    max_file_chunks: int = Field(
        2000,
        ge=1,
        description="Files cutting into more chunks than this are refused before encoding.",
    )
    encode_window: int = Field(
        1024,
        ge=1,
        description="Chunks sorted by token length together during ingest (bounded: streaming).",
    )
