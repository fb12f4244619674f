"""Stand-ins for the default models, placed in fastembed's cache exactly as its hub client reads it.

Users with internet run the defaults by name: `BAAI/bge-small-en-v1.5`, `Qdrant/bm25` and
`answerdotai/answerai-colbert-small-v1`. fastembed looks each name up in its registry, then asks
`huggingface_hub.snapshot_download(repo, local_files_only=True)` for the registry's source repo in
its cache before going online. This module writes, for each name, what that download leaves:

    <cache>/models--<org>--<repo>/refs/main                   the snapshot's commit id
    <cache>/models--<org>--<repo>/blobs/<sha256>              file contents
    <cache>/models--<org>--<repo>/snapshots/<commit>/<file>   -> ../../blobs/<sha256>
    <cache>/models--<org>--<repo>/files_metadata.json         fastembed's size record

with the registry's file names, ONNX input/output signatures and dimensions, built from the offline
MiniLM (all-MiniLM-L6-v2 int8, see `retrieval/ingest/offline.py`) with the `onnx` package (no
torch):

- `BAAI/bge-small-en-v1.5` (repo `Qdrant/bge-small-en-v1.5-onnx-Q`): `model_optimized.onnx`,
  (input_ids, attention_mask, token_type_ids) → `last_hidden_state` [batch, seq, 384]: MiniLM as is.
- `answerdotai/answerai-colbert-small-v1`: `vespa_colbert.onnx`, (input_ids, attention_mask) →
  `contextual` [batch, seq, 96]: MiniLM with token types fixed at 0 and a fixed orthonormal
  384→96 projection appended.
- `Qdrant/bm25`: `config.json` and one `<language>.txt` per listed language (no weights): NLTK's
  English stopwords; the other languages' lists are left empty (the default language is English).

**The stand-ins prove the plumbing, not quality**: MiniLM was never trained for CLS pooling, ColBERT
marker tokens or `[MASK]` expansion, and the projection is random. What they do prove is that the
code path a user with internet runs — loading by name from fastembed's cache, marker tokens, query
expansion, 96-d token vectors, the alignment view's handling of markers — works end to end.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from fastembed import LateInteractionTextEmbedding, SparseTextEmbedding, TextEmbedding
from onnx import TensorProto, helper, numpy_helper

from retrieval.ingest.offline import OfflineModels, stopwords_file
from retrieval.settings import (
    DEFAULT_COLBERT_MODEL,
    DEFAULT_DENSE_MODEL,
    DEFAULT_SPARSE_MODEL,
)

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
_BUILT = "msrag-standins.json"  # marks a complete cache (written last)
COLBERT_OUTPUT = "contextual"  # the output name of Vespa's ColBERT ONNX export


@dataclass(frozen=True)
class StandIn:
    """One default model as fastembed's registry describes it."""

    name: str
    repo: str  # the registry's Hugging Face source
    model_file: str
    dim: int | None
    additional_files: tuple[str, ...]


def registry() -> dict[str, StandIn]:
    """The three default names, read from fastembed's own registry (never restated here)."""
    found: dict[str, StandIn] = {}
    for cls, name in (
        (TextEmbedding, DEFAULT_DENSE_MODEL),
        (SparseTextEmbedding, DEFAULT_SPARSE_MODEL),
        (LateInteractionTextEmbedding, DEFAULT_COLBERT_MODEL),
    ):
        for family in cls.EMBEDDINGS_REGISTRY:
            description = next(
                (d for d in family._list_supported_models() if d.model == name), None
            )
            if description is not None:
                found[name] = StandIn(
                    name=name,
                    repo=str(description.sources.hf),
                    model_file=description.model_file,
                    dim=getattr(description, "dim", None),
                    additional_files=tuple(description.additional_files),
                )
                break
    return found


def projection(rows: int, cols: int, seed: int = 96) -> np.ndarray:
    """A fixed matrix with orthonormal columns: a random projection that keeps angles roughly."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((rows, cols)))
    return q.astype(np.float32)


def colbert_graph(minilm_onnx: Path, dim: int) -> onnx.ModelProto:
    """MiniLM with Vespa's ColBERT export signature: (input_ids, attention_mask) → contextual."""
    model = onnx.load(str(minilm_onnx))
    graph = model.graph
    hidden = graph.output[0]
    width = hidden.type.tensor_type.shape.dim[2].dim_value
    # The ColBERT export has no token_type_ids input: derive zeros of the ids' shape in-graph.
    kept = [i for i in graph.input if i.name != "token_type_ids"]
    del graph.input[:]
    graph.input.extend(kept)
    graph.node.insert(0, helper.make_node("Sub", ["input_ids", "input_ids"], ["token_type_ids"]))
    graph.initializer.append(numpy_helper.from_array(projection(width, dim), "colbert_linear"))
    graph.node.append(helper.make_node("MatMul", [hidden.name, "colbert_linear"], [COLBERT_OUTPUT]))
    del graph.output[:]
    graph.output.append(
        helper.make_tensor_value_info(COLBERT_OUTPUT, TensorProto.FLOAT, ["batch", "sequence", dim])
    )
    onnx.checker.check_model(model)
    return model


def _write_snapshot(cache: Path, repo: str, files: dict[str, bytes]) -> Path:
    """Lay `files` out as huggingface_hub's cache does after a download of `repo`."""
    folder = cache / ("models--" + repo.replace("/", "--"))
    if folder.exists():
        shutil.rmtree(folder)
    commit = hashlib.sha1(
        b"".join(hashlib.sha256(files[k]).digest() for k in sorted(files))
    ).hexdigest()
    snapshot = folder / "snapshots" / commit
    (folder / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    metadata = {}
    for name, data in files.items():
        blob = hashlib.sha256(data).hexdigest()
        (folder / "blobs" / blob).write_bytes(data)
        (snapshot / name).symlink_to(Path("..", "..", "blobs", blob))
        metadata[f"snapshots/{commit}/{name}"] = {"size": len(data), "blob_id": blob}
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)
    (folder / "files_metadata.json").write_text(json.dumps(metadata))
    return snapshot


def build_hub_cache(models: OfflineModels, cache: Path) -> Path:
    """Write the three stand-ins into the fastembed cache folder `cache` (once) and return it.

    Point fastembed at it with `FASTEMBED_CACHE_PATH` (or `MSRAG_MODELS_CACHE_DIR`) and set
    `HF_HUB_OFFLINE=1`; the default model names then load with no network.
    """
    if (cache / _BUILT).exists():
        return cache
    cache.mkdir(parents=True, exist_ok=True)
    described = registry()
    tokenizer = {f: (models.minilm / f).read_bytes() for f in (*_TOKENIZER_FILES, "config.json")}

    dense = described[DEFAULT_DENSE_MODEL]
    _write_snapshot(
        cache,
        dense.repo,
        {**tokenizer, dense.model_file: (models.minilm / "model.onnx").read_bytes()},
    )

    colbert = described[DEFAULT_COLBERT_MODEL]
    assert colbert.dim is not None
    graph = colbert_graph(models.minilm / "model.onnx", colbert.dim)
    _write_snapshot(
        cache, colbert.repo, {**tokenizer, colbert.model_file: graph.SerializeToString()}
    )

    bm25 = described[DEFAULT_SPARSE_MODEL]
    english = stopwords_file("english").read_bytes()
    stopwords = {f: (english if f == "english.txt" else b"") for f in bm25.additional_files}
    _write_snapshot(cache, bm25.repo, {bm25.model_file: b"{}", **stopwords})

    (cache / _BUILT).write_text(json.dumps(sorted(described)))
    return cache
