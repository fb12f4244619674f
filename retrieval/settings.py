"""The one settings object, read from the environment and `.env` at the edge (CLI, UI).

Library code receives a `Settings` instance; it never reads `os.environ` itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from retrieval.modes import DEFAULT_MODE, mode_spec

DEFAULT_DENSE_MODEL = "BAAI/bge-small-en-v1.5"
DEFAULT_SPARSE_MODEL = "Qdrant/bm25"
DEFAULT_COLBERT_MODEL = "answerdotai/answerai-colbert-small-v1"


class Settings(BaseSettings):
    """Everything configurable, with the environment variable that sets it.

    >>> s = Settings(data_dir="/tmp/msrag", top_k=3)
    >>> s.store_path.name
    'msrag'
    """

    model_config = SettingsConfigDict(
        env_prefix="MSRAG_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- storage -------------------------------------------------------------------------
    data_dir: Path = Field(Path(".msrag"), description="Where the embedded store lives.")
    collection: str = Field("msrag", description="Collection (server) or shard folder (embedded).")
    qdrant_url: str | None = Field(
        None,
        validation_alias=AliasChoices("QDRANT_URL", "MSRAG_QDRANT_URL"),
        description="Qdrant server/cluster URL; unset = embedded qdrant-edge store.",
    )
    qdrant_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("QDRANT_API_KEY", "MSRAG_QDRANT_API_KEY")
    )
    qdrant_retries: int = Field(
        3, ge=0, le=10, description="Retries of a Qdrant server call that could not connect."
    )
    qdrant_backoff_s: float = Field(
        0.5, ge=0, le=30, description="First retry delay; doubles per retry (at most 8 s)."
    )
    min_free_mb: float = Field(
        256.0,
        ge=0,
        description="The embedded store opens and writes only with this much free disk (0 = off).",
    )

    # Applied when msrag creates a collection on a Qdrant server or cluster (the embedded store
    # is one shard on one machine); unset = the server's default. Not part of the layout: they
    # change where points live, never what a query returns.
    shard_number: int | None = Field(None, ge=1, description="Shards of a new server collection.")
    replication_factor: int | None = Field(
        None, ge=1, description="Copies of each shard on a cluster (>= 2 survives a lost node)."
    )
    write_consistency_factor: int | None = Field(
        None, ge=1, description="Replicas that must confirm a write before it succeeds."
    )
    on_disk_payload: bool | None = Field(None, description="Server keeps payloads on disk.")
    dense_on_disk: bool | None = Field(None, description="Server keeps dense vectors on disk.")

    conversations_db: Path | None = Field(
        None,
        description="SQLite file of saved conversations and feedback "
        "(default: <data_dir>/conversations.db).",
    )
    regress_cases: Path = Field(
        Path("msrag-cases.yaml"),
        description="Case file that 'Save as regression case' and --from-feedback append to.",
    )

    # --- encoders: a fastembed model name, or a local directory ----------------------------
    dense_model: str = DEFAULT_DENSE_MODEL
    sparse_model: str = DEFAULT_SPARSE_MODEL
    colbert_model: str = DEFAULT_COLBERT_MODEL
    models_cache_dir: Path | None = Field(
        None, description="fastembed download cache for named models (default: fastembed's)."
    )
    encode_batch_size: int = Field(32, ge=1, description="Most texts per encoder batch.")
    encode_max_tokens: int = Field(
        4096,
        ge=16,
        description="Most padded tokens per encoder batch (bounds the transformer's memory).",
    )
    # Defaults from bench/memory.py (README "Memory"): the arena keeps ingest at full speed,
    # and the token budget bounds what it holds (ingest peak 1.5 GB instead of 4.8 GB).
    onnx_memory_arena: bool = Field(
        True,
        description="Let onnxruntime keep its CPU memory arena (holds the peak batch's memory).",
    )
    encode_window: int = Field(
        1024,
        ge=1,
        description="Chunks sorted by token length together during ingest (bounded: streaming).",
    )

    # --- collection layout options (changing one needs a re-index) ------------------------
    # Defaults chosen from bench/optimizations.py on SciFact (README "Optimizations"): float16
    # token vectors and pool factor 3 store 17% of float32 for -0.005 nDCG@10, ~3x faster MaxSim.
    colbert_datatype: Literal["float32", "float16", "uint8"] = "float16"
    colbert_quantization: Literal["none", "int8"] = "none"
    # On disk by default (bench/scale.py): the same search time at SciFact's size, a third less
    # serving RSS, and RAM that no longer grows with the store (the page cache serves the
    # candidates' token vectors). A store keeps the placement it was built with.
    colbert_on_disk: bool = True
    dense_quantization: Literal["none", "int8"] = "none"
    pool_factor: int = Field(3, ge=1, le=8, description="Token pooling factor at index time.")
    muvera: bool = Field(False, description="Store a MUVERA vector for the muvera+colbert mode.")

    # --- chunking ----------------------------------------------------------------------------
    chunk_tokens: int = Field(256, ge=16)
    chunk_overlap: int = Field(32, ge=0)
    max_file_mb: float = Field(50.0, gt=0, description="Files larger than this are skipped.")

    # --- query ---------------------------------------------------------------------------------
    mode: str = Field(DEFAULT_MODE, description="Retrieval mode (retrieval/modes.py).")
    top_k: int = Field(5, ge=1, le=1000)
    prefetch_limit: int = Field(100, ge=1, le=10_000)
    rrf_k: int = Field(2, ge=1, description="RRF constant: 1/(k + rank). Qdrant's default is 2.")
    dense_exact: bool = Field(
        False,
        description="Always scan every dense vector. Off: Qdrant scans small stores anyway and "
        "walks the HNSW graph past its full-scan threshold (README 'Scale').",
    )
    hnsw_ef: int = Field(
        256, ge=1, description="Candidates a dense HNSW search keeps (recall against speed)."
    )

    # --- assistant / LLM -----------------------------------------------------------------------
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("OPENAI_API_KEY", "MSRAG_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_BASE_URL", "MSRAG_OPENAI_BASE_URL")
    )
    llm_model: str = "gpt-4o-mini"
    llm_context_window: int = Field(8192, ge=512)
    llm_answer_tokens: int = Field(768, ge=16, description="Reserved for the answer.")
    llm_temperature: float = Field(0.0, ge=0.0, le=2.0)
    llm_timeout: float = Field(60.0, gt=0)
    llm_max_retries: int = Field(2, ge=0, le=10)
    max_question_chars: int = Field(4000, ge=100)
    min_rerank_score: float | None = Field(
        None,
        description="Below this top rerank score the assistant says it found nothing relevant "
        "(unset = the calibrated default for the mode).",
    )
    prompts_dir: Path | None = Field(None, description="Prompt templates (default: ./prompts).")

    # --- teams: who is asking, and what they may see (README "Teams") -------------------------
    auth: Literal["none", "header", "oidc"] = Field(
        "none",
        description="none: one local user who sees everything; header: a reverse proxy signs "
        "users in and passes AUTH_HEADER; oidc: Streamlit's st.login.",
    )
    auth_header: str = Field(
        "X-Forwarded-Email", min_length=1, description="The trusted proxy's user header."
    )
    groups_file: Path | None = Field(
        None, description="YAML: user or email pattern → groups (`admins` is special)."
    )
    trusted_proxy: bool = Field(
        False,
        description="Allow header mode on a non-loopback address: only a proxy can reach it.",
    )

    @field_validator("qdrant_url", "openai_base_url", mode="before")
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

    @property
    def conversations_path(self) -> Path:
        """The conversation history's SQLite file."""
        return self.conversations_db or self.data_dir / "conversations.db"

    @property
    def llm_configured(self) -> bool:
        return self.openai_api_key is not None or self.openai_base_url is not None
