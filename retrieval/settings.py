"""The engine's settings: the store, the models, the collection layout and the query.

Each layer owns the settings it reads and extends the layer below it (`IngestSettings`,
`TeamSettings`, `AssistantSettings`, `RegressSettings`); the command line composes them into one
object (`msrag.settings.Settings`) and passes it down. Library code receives an instance; it
never reads `os.environ` itself. A plugin user builds this one:

    >>> s = RetrievalSettings(data_dir="/tmp/msrag", top_k=3)
    >>> s.store_path.name
    'msrag'
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from retrieval.modes import DEFAULT_MODE, mode_spec
from retrieval.types import (
    DEFAULT_HNSW_EF,
    DEFAULT_MAX_QUERY_CHARS,
    DEFAULT_PREFETCH_LIMIT,
    DEFAULT_RRF_K,
    DEFAULT_TOP_K,
)

DEFAULT_DENSE_MODEL = "BAAI/bge-small-en-v1.5"
DEFAULT_SPARSE_MODEL = "Qdrant/bm25"
DEFAULT_COLBERT_MODEL = "answerdotai/answerai-colbert-small-v1"


class RetrievalSettings(BaseSettings):
    """The store, the encoders, the collection layout and the query, with the variable that sets
    each (`MSRAG_` + the field name, unless its alias says otherwise)."""

    model_config = SettingsConfigDict(
        env_prefix="MSRAG_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- storage -------------------------------------------------------------------------
    data_dir: Path = Field(Path(".msrag"), description="Where the embedded store lives.")
    collection: str = Field("msrag", description="Collection (server) or shard folder (embedded).")
    qdrant_url: str | None = Field(
        None,
        validation_alias=AliasChoices("QDRANT_URL", "MSRAG_QDRANT_URL"),
        description="Qdrant server/cluster URL; unset = the embedded qdrant-edge store.",
        examples=["http://localhost:6333"],
    )
    qdrant_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("QDRANT_API_KEY", "MSRAG_QDRANT_API_KEY"),
        description="API key of the Qdrant server (Qdrant Cloud, or a server started with one).",
    )
    qdrant_retries: int = Field(
        3, ge=0, le=10, description="Retries of a Qdrant server call that could not connect."
    )
    qdrant_backoff_s: float = Field(
        0.5, ge=0, le=30, description="First retry delay in seconds; doubles per retry (≤ 8 s)."
    )
    min_free_mb: float = Field(
        256.0,
        ge=0,
        description="The embedded store opens and writes only with this much free disk, in MB "
        "(0 = off).",
    )

    # Applied when msrag creates a collection on a Qdrant server or cluster (the embedded store
    # is one shard on one machine); unset = the server's default. Not part of the layout: they
    # change where points live, never what a query returns.
    shard_number: int | None = Field(None, ge=1, description="Shards of a new server collection.")
    replication_factor: int | None = Field(
        None, ge=1, description="Copies of each shard on a cluster (≥ 2 survives a lost node)."
    )
    write_consistency_factor: int | None = Field(
        None, ge=1, description="Replicas that must confirm a write before it succeeds."
    )
    on_disk_payload: bool | None = Field(None, description="A server keeps payloads on disk.")
    dense_on_disk: bool | None = Field(None, description="A server keeps dense vectors on disk.")

    # --- encoders: a fastembed model name, or a local directory ----------------------------
    dense_model: str = Field(
        DEFAULT_DENSE_MODEL, description="Dense encoder: a fastembed model name or a local folder."
    )
    sparse_model: str = Field(
        DEFAULT_SPARSE_MODEL, description="BM25 encoder: a fastembed model name or a local folder."
    )
    colbert_model: str = Field(
        DEFAULT_COLBERT_MODEL,
        description="Late-interaction (ColBERT) encoder: a fastembed model name or a local folder.",
    )
    models_cache_dir: Path | None = Field(
        None, description="fastembed download cache for named models (default: fastembed's)."
    )
    encode_batch_size: int = Field(32, ge=1, description="Most texts per encoder batch.")
    encode_max_tokens: int = Field(
        4096,
        ge=16,
        description="Most padded tokens per encoder batch (bounds the transformer's memory).",
    )
    # Defaults from bench/memory.py (docs/benchmarks/memory.md): the arena keeps ingest at full
    # speed, and the token budget bounds what it holds (ingest peak 1.5 GB instead of 4.8 GB).
    onnx_memory_arena: bool = Field(
        True,
        description="Let onnxruntime keep its CPU memory arena (faster ingest; false = lowest "
        "steady memory).",
    )

    # --- collection layout options (changing one needs `msrag reindex`) --------------------
    # Defaults chosen from bench/optimizations.py on SciFact (docs/benchmarks/optimizations.md):
    # float16 token vectors and pool factor 3 store 17% of float32 for -0.005 nDCG@10, ~3x faster
    # MaxSim.
    colbert_datatype: Literal["float32", "float16", "uint8"] = Field(
        "float16", description="How token vectors are stored (uint8 halves them again)."
    )
    colbert_quantization: Literal["none", "int8"] = Field(
        "none", description="Scalar quantization of the token vectors."
    )
    # On disk by default (bench/scale.py, docs/benchmarks/scale.md): the same search time at
    # SciFact's size, a third less serving RSS, and RAM that no longer grows with the store (the
    # page cache serves the candidates' token vectors). A store keeps the placement it was built
    # with.
    colbert_on_disk: bool = Field(
        True,
        description="A new store keeps its token vectors on disk, read through the page cache "
        "(false: in RAM); an existing store keeps its placement.",
    )
    dense_quantization: Literal["none", "int8"] = Field(
        "none", description="Scalar quantization of the dense vectors."
    )
    pool_factor: int = Field(3, ge=1, le=8, description="Token pooling factor at index time.")
    muvera: bool = Field(False, description="Store a MUVERA vector for the muvera+colbert mode.")

    # --- query ---------------------------------------------------------------------------------
    mode: str = Field(
        DEFAULT_MODE, description="Retrieval mode (`msrag search --help` lists them)."
    )
    top_k: int = Field(DEFAULT_TOP_K, ge=1, le=1000, description="Passages returned.")
    prefetch_limit: int = Field(
        DEFAULT_PREFETCH_LIMIT, ge=1, le=10_000, description="Candidates of each prefetch."
    )
    rrf_k: int = Field(
        DEFAULT_RRF_K, ge=1, description="RRF constant: 1/(k + rank). Qdrant's default is 2."
    )
    dense_exact: bool = Field(
        False,
        description="Always scan every dense vector. Off: Qdrant scans small stores anyway and "
        "walks the HNSW graph past its full-scan threshold.",
    )
    hnsw_ef: int = Field(
        DEFAULT_HNSW_EF,
        ge=1,
        description="Candidates a dense HNSW search keeps (recall against speed).",
    )
    max_query_chars: int = Field(
        DEFAULT_MAX_QUERY_CHARS,
        ge=100,
        description="Longest question or search query accepted, in characters.",
    )

    @field_validator("qdrant_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, v: str) -> str:
        return mode_spec(v).name

    @property
    def store_path(self) -> Path:
        """The embedded shard's folder."""
        return self.data_dir / self.collection
