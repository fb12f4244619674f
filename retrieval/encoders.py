"""fastembed encoders for the three vectors of a point: dense, BM25 sparse, late-interaction tokens.

Each model is a fastembed name (downloaded by fastembed on first use, for users with internet) or a
local directory (air-gapped machines, tests, CI). A local directory may hold `msrag-model.json`:
`{"kind": "token-vectors"}` marks a plain transformer (e.g. MiniLM) whose token outputs serve as
ColBERT-style multivectors; `{"base_model": "<fastembed name>"}` marks a local copy of a model
fastembed knows. When dense and late-interaction point at the same token-vector directory, the
transformer runs once per batch and both outputs are derived from that one pass.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from fastembed import LateInteractionTextEmbedding, SparseTextEmbedding, TextEmbedding
from fastembed.common.model_description import DenseModelDescription, ModelSource, PoolingType
from fastembed.late_interaction.colbert import Colbert

from retrieval.batching import length_batches
from retrieval.errors import ModelUnavailableError
from retrieval.postprocess import apply_index_time_options, muvera_dim, query_muvera
from retrieval.schema import Layout
from retrieval.settings import RetrievalSettings
from retrieval.types import ChunkVectors, SparseVector

_MANIFEST = "msrag-model.json"


def _local_dir(name: str) -> Path | None:
    path = Path(name).expanduser()
    return path.resolve() if path.is_dir() else None


def _manifest(path: Path) -> dict[str, Any]:
    file = path / _MANIFEST
    return json.loads(file.read_text()) if file.exists() else {}


def _hidden_size(path: Path) -> int:
    config = path / "config.json"
    if not config.exists():
        raise ModelUnavailableError(f"{path} has no config.json; cannot tell the vector size.")
    return int(json.loads(config.read_text())["hidden_size"])


def _model_id(name: str) -> str:
    """A location-independent identity, recorded in the collection layout."""
    local = _local_dir(name)
    if local is None:
        return name
    base = _manifest(local).get("base_model")
    return base or f"local:{local.name}"


class _TokenVectors(Colbert):
    """A plain transformer's token outputs as multivectors (no ColBERT marker tokens or [MASK]
    query expansion: the model was never trained with them). fastembed still drops punctuation
    and L2-normalises document tokens."""

    MIN_QUERY_LENGTH = None
    RESERVED_MARKER_TOKENS = 0
    _registry: ClassVar[list[DenseModelDescription]] = []

    @classmethod
    def _list_supported_models(cls) -> list[DenseModelDescription]:
        return cls._registry

    @classmethod
    def register(cls, name: str, dim: int) -> None:
        if not any(d.model == name for d in cls._registry):
            cls._registry.append(
                DenseModelDescription(
                    model=name,
                    dim=dim,
                    description="local token vectors",
                    license="see model",
                    size_in_GB=0.0,
                    sources=ModelSource(hf=name),
                    model_file="model.onnx",
                )
            )

    def _preprocess_onnx_input(
        self, onnx_input: dict[str, np.ndarray], is_doc: bool = True, **kwargs: Any
    ) -> dict[str, np.ndarray]:
        return onnx_input


def _mean_pool_normalized(output: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    assert mask is not None  # fastembed always returns the attention mask it ran with
    mask3 = mask[..., None].astype(output.dtype)
    pooled = (output * mask3).sum(axis=1) / np.maximum(mask3.sum(axis=1), 1e-9)
    unit: np.ndarray = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return unit


def _normalize_rows(x: np.ndarray) -> np.ndarray:
    unit: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    return unit


@dataclass(frozen=True)
class TokenMatch:
    """For one query token: the passage token it matched best (MaxSim) and how strongly."""

    query_token: str
    start: int  # character span of the matched token in the passage text
    end: int
    score: float


def _length_counter(model: Any) -> Any:
    """A copy of the model's (Hugging Face `tokenizers`) tokenizer that truncates as the model
    does but never pads, or None when the model exposes none."""
    # fastembed's front classes (LateInteractionTextEmbedding) wrap the model in `.model`.
    tokenizer = getattr(model, "tokenizer", None) or getattr(
        getattr(model, "model", None), "tokenizer", None
    )
    if tokenizer is None or not hasattr(tokenizer, "no_padding"):
        return None
    counter = copy.deepcopy(tokenizer)
    counter.no_padding()
    return counter


class Encoders:
    """The three encoders of a collection, built from settings.

        enc = Encoders(RetrievalSettings())
        v = enc.encode_query("what is late interaction?")
        v.colbert.shape
        # -> (8, 96)
    """

    def __init__(self, settings: RetrievalSettings, *, threads: int | None = None) -> None:
        self.batch_size = settings.encode_batch_size
        self.max_batch_tokens = settings.encode_max_tokens
        self._settings = settings  # index-time options: token pooling, MUVERA
        self.pool_factor = settings.pool_factor
        cache = str(settings.models_cache_dir) if settings.models_cache_dir else None
        # onnxruntime's CPU arena keeps the largest batch's activations for the process's life
        # (docs/benchmarks/memory.md); without it they are returned after every call, at some speed.
        arena = settings.onnx_memory_arena
        self.model_ids = {
            "dense": _model_id(settings.dense_model),
            "bm25": _model_id(settings.sparse_model),
            "colbert": _model_id(settings.colbert_model),
        }
        try:
            self._sparse = self._load_sparse(settings.sparse_model, cache)
            dense_dir = _local_dir(settings.dense_model)
            colbert_dir = _local_dir(settings.colbert_model)
            self._tokens: _TokenVectors | None = None
            self._dense: TextEmbedding | None = None
            self._late: LateInteractionTextEmbedding | None = None
            if colbert_dir is not None and _manifest(colbert_dir).get("kind") == "token-vectors":
                name = f"msrag-local/{colbert_dir.name}"
                self.colbert_dim = _hidden_size(colbert_dir)
                _TokenVectors.register(name, self.colbert_dim)
                self._tokens = _TokenVectors(
                    name,
                    cache_dir=cache,
                    threads=threads,
                    enable_cpu_mem_arena=arena,
                    specific_model_path=str(colbert_dir),
                )
            else:
                self._late = self._load_late(settings.colbert_model, cache, threads, arena)
                self.colbert_dim = int(self._late.embedding_size)
            # The shared backbone: one transformer pass gives both dense and token vectors.
            self.shared_backbone = self._tokens is not None and dense_dir == colbert_dir
            if self.shared_backbone:
                self.dense_dim = self.colbert_dim
            else:
                self._dense = self._load_dense(settings.dense_model, cache, threads, arena)
                self.dense_dim = int(self._dense.embedding_size)
            self.muvera_dim = muvera_dim(settings, self.colbert_dim)
            self._counter = _length_counter(self._tokens or self._late)
        except ModelUnavailableError:
            raise
        except Exception as exc:  # fastembed's own errors are long and mention hubs
            raise ModelUnavailableError(
                f"Could not load the embedding models ({exc}). With no internet, build local "
                "copies with `msrag models offline` and append the printed lines to .env."
            ) from exc

    def layout(self, settings: RetrievalSettings) -> Layout:
        """The collection layout these loaded encoders produce under `settings`."""
        layout = Layout.from_settings(
            settings,
            model_ids=self.model_ids,
            dense_dim=self.dense_dim,
            colbert_dim=self.colbert_dim,
            muvera_dim=self.muvera_dim,
        )
        # what is stored is what the encoders produce: their pooling, not the settings', decides
        return replace(layout, pool_factor=self.pool_factor)

    def configured(self, settings: RetrievalSettings) -> Encoders:
        """These loaded models applying `settings`' index-time options (pooling, MUVERA, batch).

        Lets callers share one set of ONNX sessions across collections with different layouts.
        """
        wanted = (
            settings.pool_factor,
            settings.muvera,
            settings.encode_batch_size,
            settings.encode_max_tokens,
        )
        if wanted == (
            self.pool_factor,
            self.muvera_dim is not None,
            self.batch_size,
            self.max_batch_tokens,
        ):
            return self
        clone = copy.copy(self)
        clone._settings = settings
        clone.pool_factor = settings.pool_factor
        clone.batch_size = settings.encode_batch_size
        clone.max_batch_tokens = settings.encode_max_tokens
        clone.muvera_dim = muvera_dim(settings, self.colbert_dim)
        return clone

    @property
    def late_model(self) -> Colbert:
        """The fastembed late-interaction model that ranks passages (its tokenizers, ONNX pass
        and post-processing), for views that must explain a ranking with the same tokens."""
        if self._tokens is not None:
            return self._tokens
        if self._late is None:
            raise ModelUnavailableError("These encoders have no late-interaction model.")
        return self._late.model  # type: ignore[return-value]

    def transformer_pass(self, texts: Sequence[str]) -> None:
        """Run the models over `texts` as one batch and discard the output: the encoders' raw
        cost, the baseline the ingest benchmark compares the whole pipeline against."""
        batch = list(texts)
        if self._tokens is not None:
            self._tokens.onnx_embed(batch, is_doc=True)
        if self._dense is not None:
            list(self._dense.embed(batch, batch_size=len(batch)))
        if self._late is not None:
            list(self._late.embed(batch, batch_size=len(batch)))

    # --- loading -----------------------------------------------------------------------------
    @staticmethod
    def _load_sparse(name: str, cache: str | None) -> SparseTextEmbedding:
        local = _local_dir(name)
        if local is None:
            return SparseTextEmbedding(name, cache_dir=cache)
        model = _manifest(local).get("base_model", "Qdrant/bm25")
        encoder = SparseTextEmbedding(model, cache_dir=cache, specific_model_path=str(local))
        # fastembed treats a missing stopword file as "no stopwords": refuse that silent downgrade
        stopwords = getattr(encoder.model, "stopwords", None)
        if stopwords is not None and not stopwords:
            raise ModelUnavailableError(
                f"{local} has no stopword list (english.txt); "
                "rebuild it with `msrag models offline`."
            )
        return encoder

    @staticmethod
    def _load_dense(
        name: str, cache: str | None, threads: int | None, arena: bool = False
    ) -> TextEmbedding:
        local = _local_dir(name)
        if local is None:
            return TextEmbedding(name, cache_dir=cache, threads=threads, enable_cpu_mem_arena=arena)
        manifest = _manifest(local)
        if "base_model" in manifest:
            return TextEmbedding(
                manifest["base_model"],
                cache_dir=cache,
                threads=threads,
                enable_cpu_mem_arena=arena,
                specific_model_path=str(local),
            )
        custom = f"msrag-local/{local.name}-dense"
        if not any(m["model"] == custom for m in TextEmbedding.list_supported_models()):
            TextEmbedding.add_custom_model(
                model=custom,
                pooling=PoolingType.CLS if manifest.get("pooling") == "cls" else PoolingType.MEAN,
                normalization=manifest.get("normalization", True),
                sources=ModelSource(hf=custom),
                dim=_hidden_size(local),
                model_file=manifest.get("model_file", "model.onnx"),
            )
        return TextEmbedding(
            custom,
            cache_dir=cache,
            threads=threads,
            enable_cpu_mem_arena=arena,
            specific_model_path=str(local),
        )

    @staticmethod
    def _load_late(
        name: str, cache: str | None, threads: int | None, arena: bool = False
    ) -> LateInteractionTextEmbedding:
        local = _local_dir(name)
        if local is None:
            return LateInteractionTextEmbedding(
                name, cache_dir=cache, threads=threads, enable_cpu_mem_arena=arena
            )
        base = _manifest(local).get("base_model")
        if not base:
            raise ModelUnavailableError(
                f"{local} is not a known late-interaction model: add msrag-model.json with "
                '{"base_model": "<fastembed name>"} or {"kind": "token-vectors"}.'
            )
        return LateInteractionTextEmbedding(
            base,
            cache_dir=cache,
            threads=threads,
            enable_cpu_mem_arena=arena,
            specific_model_path=str(local),
        )

    # --- encoding ----------------------------------------------------------------------------
    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens the transformer sees for each text (after truncation, before padding).

        Counted with the token-vector (or late-interaction) model's own tokenizer; a model
        that exposes none falls back to characters / 4, which only affects batching.
        """
        if self._counter is None:
            return [max(1, len(t) // 4) for t in texts]
        return [len(e.ids) for e in self._counter.encode_batch(list(texts))]

    def encode_documents(self, texts: Sequence[str]) -> list[ChunkVectors]:
        """Vectors for each text, in input order, batched by token length to cut padding.

        Padding never changes a text's vectors (the attention mask hides it), so the batching
        decides only the speed and the peak memory, not the result.
        """
        out: list[ChunkVectors | None] = [None] * len(texts)
        batches = length_batches(
            range(len(texts)),
            lambda idx: self.token_counts([texts[i] for i in idx]),
            batch_size=self.batch_size,
            max_tokens=self.max_batch_tokens,
            window=max(1, len(texts)),
        )
        for idx in batches:
            for i, vectors in zip(idx, self.encode_batch([texts[i] for i in idx]), strict=True):
                out[i] = vectors
        return out  # type: ignore[return-value]

    def encode_batch(self, batch: Sequence[str]) -> list[ChunkVectors]:
        """Vectors for exactly these texts, as one transformer call (padded to the longest).

        For callers that form their own batches (ingest, with `retrieval.batching`).
        """
        return list(self._encode_batch(list(batch)))

    def _encode_batch(self, batch: list[str]) -> Iterator[ChunkVectors]:
        sparse = list(self._sparse.embed(batch, batch_size=len(batch)))
        if self.shared_backbone:
            assert self._tokens is not None
            ctx = self._tokens.onnx_embed(batch, is_doc=True)
            dense = _mean_pool_normalized(ctx.model_output, ctx.attention_mask)
            colbert = list(self._tokens._post_process_onnx_output(ctx, is_doc=True))
        else:
            assert self._dense is not None
            dense = np.asarray(list(self._dense.embed(batch, batch_size=len(batch))))
            colbert = list(self._colbert_docs(batch))
        for d, s, c in zip(dense, sparse, colbert, strict=True):
            yield apply_index_time_options(
                ChunkVectors(
                    dense=np.asarray(d, dtype=np.float32),
                    sparse=SparseVector(s.indices.tolist(), s.values.tolist()),
                    colbert=np.asarray(c, dtype=np.float32),
                ),
                self._settings,
            )

    def _colbert_docs(self, batch: list[str]) -> Iterator[np.ndarray]:
        if self._tokens is not None:
            yield from self._tokens.embed(batch, batch_size=len(batch))
        else:
            assert self._late is not None
            yield from self._late.embed(batch, batch_size=len(batch))

    def token_vectors(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each text's late-interaction token vectors, L2-normalised and never pooled.

        For scoring short texts (an answer's candidate sentences) against a query with the
        models already loaded; index-time options do not apply, nothing is stored.
        """
        if not texts:
            return []
        if self._tokens is not None:
            # one ONNX pass for the batch, as ingest does (fastembed's `embed` loop costs more)
            ctx = self._tokens.onnx_embed(list(texts), is_doc=True)
            raw = list(self._tokens._post_process_onnx_output(ctx, is_doc=True))
        else:
            raw = list(self._colbert_docs(list(texts)))
        return [_normalize_rows(np.asarray(v, dtype=np.float32)) for v in raw]

    def encode_query(
        self,
        text: str,
        *,
        dense: bool = True,
        sparse: bool = True,
        colbert: bool = True,
        muvera: bool = True,
    ) -> ChunkVectors:
        """Query vectors (only the kinds asked for). Token vectors are L2-normalised here, as
        Qdrant's cosine does, so alignment scores read as cosines. The MUVERA vector is added
        when the collection stores one and `muvera` is asked for."""
        sparse_vec = None
        if sparse:
            s = next(iter(self._sparse.query_embed(text)))
            sparse_vec = SparseVector(s.indices.tolist(), s.values.tolist())
        dense_vec: np.ndarray | None = None
        tokens: np.ndarray | None = None
        if colbert or (dense and self.shared_backbone):
            if self._tokens is not None:
                ctx = self._tokens.onnx_embed([text], is_doc=False)
                tokens = ctx.model_output[0]
                if self.shared_backbone:
                    dense_vec = _mean_pool_normalized(ctx.model_output, ctx.attention_mask)[0]
            else:
                assert self._late is not None
                tokens = next(iter(self._late.query_embed(text)))
        if dense and dense_vec is None and self._dense is not None:
            dense_vec = next(iter(self._dense.query_embed(text)))
        vectors = ChunkVectors(
            dense=np.asarray(dense_vec, dtype=np.float32) if dense else None,
            sparse=sparse_vec,
            colbert=_normalize_rows(np.asarray(tokens, dtype=np.float32)) if colbert else None,
        )
        return query_muvera(vectors, self._settings) if muvera else vectors
