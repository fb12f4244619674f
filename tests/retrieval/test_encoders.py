"""Real fastembed encoders from the offline MiniLM directories."""

from __future__ import annotations

import numpy as np
import pytest

from msrag.settings import Settings
from retrieval.encoders import Encoders
from retrieval.errors import ModelUnavailableError
from tests.conftest import make_settings


class TestOfflineEncoders:
    def test_dims_ids_and_shared_backbone(self, encoders: Encoders) -> None:
        assert encoders.dense_dim == 384 and encoders.colbert_dim == 384
        assert encoders.shared_backbone
        assert encoders.model_ids == {
            "dense": "local:minilm-l6-v2-int8",
            "bm25": "local:bm25-english",
            "colbert": "local:minilm-l6-v2-int8",
        }

    def test_dense_cosine_matches_known_minilm_value(self, encoders: Encoders) -> None:
        # sentence-transformers all-MiniLM-L6-v2 gives 0.755 for this pair (int8 agrees to ~1e-3)
        a, b = encoders.encode_documents(
            ["A man is eating food.", "A man is eating a piece of bread."]
        )
        assert float(a.dense @ b.dense) == pytest.approx(0.755, abs=0.005)
        assert float(np.linalg.norm(a.dense)) == pytest.approx(1.0, abs=1e-5)

    def test_shared_pass_equals_separate_fastembed_models(
        self, encoders: Encoders, offline_model_dirs, tmp_path
    ) -> None:
        """The one-pass dense output equals fastembed's own mean-pooled model on the same dir."""
        from fastembed import TextEmbedding

        separate = Encoders._load_dense(str(offline_model_dirs.minilm), None, None)
        text = "Late interaction keeps one vector per token."
        ours = encoders.encode_documents([text])[0].dense
        theirs = next(iter(separate.embed([text])))
        assert isinstance(separate, TextEmbedding)
        np.testing.assert_allclose(ours, theirs, atol=1e-5)

    def test_document_tokens_drop_punctuation_and_are_unit_length(self, encoders: Encoders) -> None:
        with_punct, without = encoders.encode_documents(["cats, dogs; birds!", "cats dogs birds"])
        assert with_punct.colbert.shape == without.colbert.shape  # [CLS] cats dogs birds [SEP]
        np.testing.assert_allclose(np.linalg.norm(with_punct.colbert, axis=1), 1.0, atol=1e-5)

    def test_bm25_uses_stopwords(self, encoders: Encoders) -> None:
        only_stopwords = encoders.encode_documents(["the and of a"])[0].sparse
        assert only_stopwords.indices == []
        content = encoders.encode_documents(["photosynthesis chlorophyll"])[0].sparse
        assert len(content.indices) == 2

    def test_batching_keeps_input_order(self, encoders: Encoders) -> None:
        texts = ["short", "a much longer text about lighthouses " * 5, "mid length text here"]
        batched = encoders.encode_documents(texts)
        single = [encoders.encode_documents([t])[0] for t in texts]
        for b, s in zip(batched, single, strict=True):
            np.testing.assert_allclose(b.dense, s.dense, atol=1e-4)

    def test_query_needs_only_what_the_mode_uses(self, encoders: Encoders) -> None:
        q = encoders.encode_query("lighthouse keeper", dense=False, colbert=False)
        assert q.dense is None and q.colbert is None and q.sparse is not None
        full = encoders.encode_query("lighthouse keeper")
        assert full.dense.shape == (384,) and full.colbert.shape[1] == 384


def test_missing_local_model_dir_is_a_clear_error(offline_model_dirs, tmp_path) -> None:
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    settings = make_settings(offline_model_dirs, tmp_path, colbert_model=str(empty))
    with pytest.raises(ModelUnavailableError, match="msrag models offline|msrag-model.json"):
        Encoders(settings)


def test_bm25_dir_without_stopwords_is_refused(offline_model_dirs, tmp_path) -> None:
    bare = tmp_path / "bm25"
    bare.mkdir()
    settings = make_settings(offline_model_dirs, tmp_path, sparse_model=str(bare))
    with pytest.raises(ModelUnavailableError, match="stopword"):
        Encoders(settings)


@pytest.mark.parametrize("arena", [False, True])
def test_onnx_memory_arena_follows_the_setting(offline_model_dirs, tmp_path, arena: bool) -> None:
    """On (the default) keeps onnxruntime's arena, which holds the largest batch's memory;
    off returns the transformer's activations after every batch (docs/benchmarks/memory.md)."""
    settings = make_settings(offline_model_dirs, tmp_path, onnx_memory_arena=arena)
    encoders = Encoders(settings)
    assert encoders._tokens is not None
    assert encoders._tokens.model.get_session_options().enable_cpu_mem_arena is arena
    assert Settings.model_fields["onnx_memory_arena"].default is True
