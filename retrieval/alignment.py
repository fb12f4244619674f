"""Why a passage ranked: the MaxSim alignment between a query and a passage, as character spans.

Late interaction scores a passage as the sum, over query tokens, of each token's best cosine with
any passage token. `align` recomputes exactly that from the same model that ranked the passage
(same tokeniser, truncation, marker tokens and punctuation skip list as fastembed uses at index
time) and reports, for every query token, which passage token won and how strongly — as a
character span of the passage text, so a UI can highlight it without knowing about tokens.

    matches = align(encoders, "who was Ada Lovelace", passage.text)
    [(m.query_token, passage.text[m.start:m.end]) for m in matches]
    # -> [('[CLS]', ''), ('who', 'who'), ('was', 'was'), ('ada', 'Ada'), ...]

The alignment uses the passage's full token vectors; a collection stored with `pool_factor > 1`
ranked pooled vectors, so its scores are close to, not equal to, the sum reported here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from fastembed.common.onnx_model import OnnxOutputContext
from fastembed.late_interaction.colbert import Colbert

from retrieval.encoders import Encoders, TokenMatch

__all__ = ["TokenMatch", "align", "maxsim", "relevance"]


def _positions(model_len: int, encoding_len: int) -> list[int | None]:
    """Map each model input position to its tokeniser position (None for an inserted marker).

    ColBERT models insert one marker token after [CLS]; plain token-vector models insert none.
    """
    inserted = model_len - encoding_len
    if inserted not in (0, 1):
        raise ValueError(
            f"unexpected token layout: {model_len} model inputs for {encoding_len} tokens"
        )
    if inserted == 0:
        return list(range(model_len))
    return [0, None, *range(1, encoding_len)]


def _passage_tokens(model: Colbert, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The passage's token vectors as indexed, and each vector's character span in `text`."""
    ctx: OnnxOutputContext = model.onnx_embed([text], is_doc=True)
    # fastembed's own post-processing decides which tokens become vectors (it zeroes the mask
    # of punctuation and padding in place): reuse it so the alignment cannot drift from it.
    vectors = next(iter(model._post_process_onnx_output(ctx, is_doc=True)))
    assert ctx.attention_mask is not None and ctx.input_ids is not None
    kept = np.flatnonzero(ctx.attention_mask[0])
    encoding = model.tokenizer.encode(text)  # type: ignore[union-attr]
    positions = _positions(len(ctx.input_ids[0]), len(encoding.ids))
    spans: list[tuple[int, int]] = []
    for j in kept:
        pos = positions[int(j)]
        spans.append((0, 0) if pos is None else encoding.offsets[pos])
    return np.asarray(vectors, dtype=np.float32), spans


def _query_tokens(model: Colbert, encoders: Encoders, query: str) -> tuple[np.ndarray, list[str]]:
    """The query's token vectors exactly as retrieval sends them, and a readable name for each."""
    vectors = encoders.encode_query(query, dense=False, sparse=False, colbert=True).colbert
    assert vectors is not None
    encoding = model.query_tokenizer.encode(query)  # type: ignore[union-attr]
    positions = _positions(len(vectors), len(encoding.tokens))
    # fastembed inserts ColBERT's query marker ([unused0] in the vocabulary): name it as the
    # ColBERT paper does, so the alignment table reads "[Q]" rather than a vocabulary slot
    names = ["[Q]" if p is None else encoding.tokens[p] for p in positions]
    return vectors, names


def maxsim(query_vectors: np.ndarray, passage_vectors: np.ndarray) -> float:
    """The late-interaction score: per query token the best dot product, summed."""
    return float((query_vectors @ passage_vectors.T).max(axis=1).sum())


def relevance(encoders: Encoders, query: str, texts: Sequence[str]) -> list[float]:
    """How well each text matches `query`: MaxSim per query token (mean best cosine, ≤ 1).

    Dividing by the number of query tokens makes texts of any length comparable for one query;
    the texts' token vectors are unpooled, whatever the collection stores.

        texts = ["Ada was born in 1815.", "Bake at 250 °C."]
        relevance(encoders, "When was Ada born?", texts)
        # -> [0.86, 0.41]
    """
    if not texts:
        return []
    q = encoders.encode_query(query, dense=False, sparse=False, colbert=True).colbert
    assert q is not None
    return [
        float((q @ t.T).max(axis=1).mean()) if len(t) else 0.0
        for t in encoders.token_vectors(texts)
    ]


def align(encoders: Encoders, query: str, passage_text: str) -> list[TokenMatch]:
    """For each query token (in order), the passage token it matched best and the cosine.

    Special tokens ([CLS], [SEP], markers, [MASK] padding) are included so the scores add up to
    the passage's MaxSim score; a match on a passage special token has an empty span
    (`start == end`), which a highlighter simply skips.
    """
    model = encoders.late_model
    q_vectors, q_names = _query_tokens(model, encoders, query)
    p_vectors, p_spans = _passage_tokens(model, passage_text)
    if len(p_vectors) == 0:
        return []
    sims = q_vectors @ p_vectors.T
    best = sims.argmax(axis=1)
    return [
        TokenMatch(
            query_token=name,
            start=p_spans[int(j)][0],
            end=p_spans[int(j)][1],
            score=float(sims[i, j]),
        )
        for i, (name, j) in enumerate(zip(q_names, best, strict=True))
    ]
