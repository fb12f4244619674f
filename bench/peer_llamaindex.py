"""The peer: what a LlamaIndex user gets by default for hybrid search over Qdrant.

Stock `QdrantVectorStore(enable_hybrid=True)` on qdrant-client's local mode (persisted with
`path=`), `VectorStoreIndex` ingestion with its default batch sizes, a
`similarity_top_k=100, sparse_top_k=100` hybrid retriever and the store's default fusion
(`relative_score_fusion`, alpha 0.5). Two things differ from a user with internet, both because
nothing may download here, and both give the peer exactly our encoders:

- dense: `FastEmbedEmbedding` on the same local MiniLM folder (registered with fastembed's
  `add_custom_model`, mean pooling, normalised — the recipe of `retrieval/encoders.py`);
- sparse: the stock default would download a model, so the same local `Qdrant/bm25` folder goes
  in through the store's own `sparse_doc_fn` / `sparse_query_fn` hooks, with
  `fastembed_sparse_model="Qdrant/bm25"` so the store creates the sparse vector with Qdrant's
  IDF modifier, as it does for that model by name.

One node per corpus document, the same `title + " " + text` passage we index, no metadata in the
embedded text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.ingest.offline import OfflineModels
from retrieval.types import Chunk

COLLECTION = "peer"
DENSE_NAME = "text-dense"  # the store's default vector names
SPARSE_NAME = "text-sparse-new"


def _dense_model(models: OfflineModels) -> Any:
    from fastembed import TextEmbedding  # noqa: PLC0415 - bench-only dependency
    from fastembed.common.model_description import ModelSource, PoolingType  # noqa: PLC0415
    from llama_index.embeddings.fastembed import FastEmbedEmbedding  # noqa: PLC0415

    name = "peer-local/minilm-dense"
    if not any(m["model"] == name for m in TextEmbedding.list_supported_models()):
        TextEmbedding.add_custom_model(
            model=name,
            pooling=PoolingType.MEAN,
            normalization=True,
            sources=ModelSource(hf=name),
            dim=384,
            model_file="model.onnx",
        )
    return FastEmbedEmbedding(model_name=name, specific_model_path=str(models.minilm))


def _sparse_fns(models: OfflineModels) -> tuple[Any, Any]:
    from fastembed import SparseTextEmbedding  # noqa: PLC0415

    bm25 = SparseTextEmbedding("Qdrant/bm25", specific_model_path=str(models.bm25))

    def doc_fn(texts: Sequence[str]) -> tuple[list[list[int]], list[list[float]]]:
        out = list(bm25.embed(list(texts)))
        return [e.indices.tolist() for e in out], [e.values.tolist() for e in out]

    def query_fn(texts: Sequence[str]) -> tuple[list[list[int]], list[list[float]]]:
        out = [next(iter(bm25.query_embed(t))) for t in texts]
        return [e.indices.tolist() for e in out], [e.values.tolist() for e in out]

    return doc_fn, query_fn


def _vector_store(client: Any, models: OfflineModels) -> Any:
    from llama_index.vector_stores.qdrant import QdrantVectorStore  # noqa: PLC0415

    doc_fn, query_fn = _sparse_fns(models)
    return QdrantVectorStore(
        collection_name=COLLECTION,
        client=client,
        enable_hybrid=True,
        fastembed_sparse_model="Qdrant/bm25",  # only decides the IDF modifier: fns given below
        sparse_doc_fn=doc_fn,
        sparse_query_fn=query_fn,
    )


def _nodes(chunks: Sequence[Chunk], dense: dict[str, np.ndarray] | None) -> list[Any]:
    from llama_index.core.schema import TextNode  # noqa: PLC0415

    return [
        TextNode(
            id_=c.id,
            text=c.text,
            metadata={"doc_id": c.doc_id},
            excluded_embed_metadata_keys=["doc_id"],
            excluded_llm_metadata_keys=["doc_id"],
            # VectorStoreIndex embeds only nodes that carry no embedding yet
            embedding=None if dense is None else dense[c.doc_id].tolist(),
        )
        for c in chunks
    ]


def ingest(
    chunks: Sequence[Chunk],
    models: OfflineModels,
    path: Path,
    dense: dict[str, np.ndarray] | None = None,
) -> None:
    """Build the peer's index at `path` through LlamaIndex's own pipeline.

    With `dense` (doc id → the dense vector our encoder made, checked equal to the peer's own)
    the index skips its dense embedding step; sparse vectors, payloads and upserts still go
    through the stock store.
    """
    from llama_index.core import StorageContext, VectorStoreIndex  # noqa: PLC0415
    from qdrant_client import QdrantClient  # noqa: PLC0415

    client = QdrantClient(path=str(path))
    try:
        store = _vector_store(client, models)
        VectorStoreIndex(
            _nodes(chunks, dense),
            storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=_dense_model(models),
        )
    finally:
        client.close()


def embed_documents(models: OfflineModels, texts: Sequence[str]) -> np.ndarray:
    """The peer's own dense document vectors (to check them against ours)."""
    return np.asarray(_dense_model(models).get_text_embedding_batch(list(texts)), np.float32)


class PeerRetriever:
    """The stock hybrid retriever over the peer's persisted index."""

    def __init__(self, models: OfflineModels, path: Path, top_k: int = 100) -> None:
        from llama_index.core import VectorStoreIndex  # noqa: PLC0415
        from qdrant_client import QdrantClient  # noqa: PLC0415

        self.client = QdrantClient(path=str(path))
        index = VectorStoreIndex.from_vector_store(
            _vector_store(self.client, models), embed_model=_dense_model(models)
        )
        self.retriever = index.as_retriever(
            vector_store_query_mode="hybrid", similarity_top_k=top_k, sparse_top_k=top_k
        )

    def search(self, text: str) -> list[tuple[str, float]]:
        """(doc id, score) best first."""
        return [
            (str(hit.node.metadata["doc_id"]), float(hit.score or 0.0))
            for hit in self.retriever.retrieve(text)
        ]

    def stored_vectors(self, ids: Sequence[str]) -> dict[str, tuple[np.ndarray, Any]]:
        """point id → (dense, sparse) as the peer stored them, to check they equal ours."""
        points = self.client.retrieve(COLLECTION, list(ids), with_vectors=True)
        out: dict[str, tuple[np.ndarray, Any]] = {}
        for p in points:
            vectors = p.vector if isinstance(p.vector, dict) else {}
            sparse = next((v for k, v in vectors.items() if "sparse" in k), None)
            out[str(p.id)] = (np.asarray(vectors[DENSE_NAME], dtype=np.float32), sparse)
        return out

    def close(self) -> None:
        self.client.close()


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in Path(path).rglob("*") if p.is_file())
