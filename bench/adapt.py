"""Can the late-interaction stage learn the corpus without labels? A measurement, not a feature.

A linear projection of the frozen MiniLM token vectors (384 → `--dim`) is trained with a MaxSim
contrastive loss and in-batch negatives on pairs taken from the corpus text alone: each
document's **title tokens** (the pseudo-query) against **the rest of its tokens** (the passage).
No query and no relevance judgment of the evaluation set is used. The token vectors come from
the shared vector cache of `bench/optimizations.py` (documents encoded as `title + " " + text`;
the title's token vectors are the first rows after [CLS]), so nothing is re-encoded.

Evaluation on the test queries whose judged documents lie in the first `--docs` documents:
candidates = dense top-100 ∪ BM25 top-100 (numpy, the reference definitions of
`../shared/notes/scifact-reference.md`), reranked by MaxSim with
(a) the raw 384-d vectors, (b) the PCA-128 start (no training), (c) the trained projection;
each also fused after the rerank with BM25 and dense by DBSF. nDCG@10 with the repository's
scoring (`retrieval.ingest.evaluate.score_run`), paired bootstrap CI of (c) − (a).

    python -m bench.adapt ../shared/data/scifact --offline --docs 2048

Constants fixed before any run, none chosen on the test queries: temperature 0.05 (SimCSE's),
Adam lr 1e-3, batch 32, 3 epochs, seed 0.
"""

from __future__ import annotations

import argparse
import math
import string
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from tokenizers import Tokenizer

from bench.harness import (
    RESULTS,
    add_model_options,
    paired_bootstrap,
    settings_from,
    write_report,
)
from bench.optimizations import cache_dir, cached_documents
from bench.peer import load_subset
from retrieval.encoders import Encoders
from retrieval.ingest.evaluate import load_beir, per_query_scores, score_run

console = Console()
TEMPERATURE = 0.05
LR = 1e-3
BATCH = 32
EPOCHS = 3


# --- training pairs from the corpus text ---------------------------------------------------------
def title_rows(tokenizer: Tokenizer, title: str, skip: set[int]) -> int:
    """Token vectors the title contributes after [CLS] (fastembed drops punctuation tokens)."""
    ids = tokenizer.encode(title, add_special_tokens=False).ids
    return sum(1 for i in ids if i not in skip)


def pairs(
    docs: dict[str, np.ndarray], titles: dict[str, str], tokenizer: Tokenizer
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(title token vectors, remaining token vectors) per document with both parts non-trivial."""
    skip = {tokenizer.encode(p, add_special_tokens=False).ids[0] for p in string.punctuation}
    out = []
    for doc_id, tokens in docs.items():
        n = title_rows(tokenizer, titles[doc_id], skip)
        if n >= 2 and len(tokens) - 1 - n >= 8:
            out.append((tokens[1 : 1 + n], tokens[1 + n :]))
    return out


# --- the model: x → normalize(x W) ---------------------------------------------------------------
def pca_start(sample: np.ndarray, dim: int) -> np.ndarray:
    """The `dim` leading right singular vectors of token vectors: the best linear 384→dim map
    in the least-squares sense, and the untrained baseline."""
    _, _, vt = np.linalg.svd(sample.astype(np.float64), full_matrices=False)
    return vt[:dim].T.astype(np.float32)


def _pad(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    n = max(len(r) for r in rows)
    out = np.zeros((len(rows), n, rows[0].shape[1]), np.float32)
    mask = np.zeros((len(rows), n), bool)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
        mask[i, : len(r)] = True
    return out, mask


def project(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = x @ w
    norm = np.maximum(np.linalg.norm(y, axis=-1, keepdims=True), 1e-12)
    return y / norm, norm


def step(
    w: np.ndarray, batch: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[float, np.ndarray, float]:
    """In-batch contrastive loss on mean-per-query-token MaxSim, and its gradient in W."""
    q, qm = _pad([a for a, _ in batch])
    d, dm = _pad([b for _, b in batch])
    u, un = project(q, w)
    v, vn = project(d, w)
    sims = np.einsum("aik,bjk->abij", u, v)
    sims = np.where(dm[None, :, None, :], sims, -np.inf)
    best = sims.argmax(axis=3)  # [a, b, i]
    top = np.take_along_axis(sims, best[..., None], axis=3)[..., 0]
    top = np.where(qm[:, None, :], top, 0.0)
    nq = qm.sum(axis=1).astype(np.float32)
    score = top.sum(axis=2) / nq[:, None]  # [a, b]
    logits = score / TEMPERATURE
    logits -= logits.max(axis=1, keepdims=True)
    prob = np.exp(logits)
    prob /= prob.sum(axis=1, keepdims=True)
    size = len(batch)
    loss = float(-np.log(np.diag(prob) + 1e-12).mean())
    acc = float((score.argmax(axis=1) == np.arange(size)).mean())
    g = (prob - np.eye(size)) / size / TEMPERATURE  # dL/dscore
    dtop = (g / nq[:, None])[:, :, None] * qm[:, None, :]  # [a, b, i]
    # dU[a,i] = Σ_b dtop[a,b,i] V[b, best[a,b,i]]
    vg = v[np.arange(size)[None, :, None], best]  # [a, b, i, k]
    du = np.einsum("abi,abik->aik", dtop, vg)
    # dV[b,j] += Σ_{a,i} dtop[a,b,i] U[a,i] where j = best[a,b,i]
    dv = np.zeros_like(v)
    contrib = dtop[..., None] * u[:, None, :, :]  # [a, b, i, k]
    b_idx = np.broadcast_to(np.arange(size)[None, :, None], best.shape)
    np.add.at(dv, (b_idx.ravel(), best.ravel()), contrib.reshape(-1, v.shape[-1]))
    dx = (du - u * (du * u).sum(-1, keepdims=True)) / un
    dy = (dv - v * (dv * v).sum(-1, keepdims=True)) / vn
    grad = np.einsum("aid,aik->dk", q, dx) + np.einsum("bjd,bjk->dk", d, dy)
    return loss, grad, acc


def train(
    data: list[tuple[np.ndarray, np.ndarray]], w0: np.ndarray, seed: int = 0
) -> tuple[np.ndarray, list[dict[str, float]]]:
    rng = np.random.default_rng(seed)
    w = w0.copy()
    m, v = np.zeros_like(w), np.zeros_like(w)
    t, log = 0, []
    for epoch in range(EPOCHS):
        order = rng.permutation(len(data))
        losses, accs = [], []
        for s in range(0, len(order) - BATCH + 1, BATCH):
            loss, grad, acc = step(w, [data[i] for i in order[s : s + BATCH]])
            t += 1
            m = 0.9 * m + 0.1 * grad
            v = 0.999 * v + 0.001 * grad**2
            w -= LR * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
            losses.append(loss)
            accs.append(acc)
        log.append(
            {"epoch": epoch + 1, "loss": float(np.mean(losses)), "acc": float(np.mean(accs))}
        )
        console.print(
            f"  epoch {epoch + 1}: loss {log[-1]['loss']:.3f}, in-batch acc {log[-1]['acc']:.3f}"
        )
    return w, log


# --- evaluation -------------------------------------------------------------------------------
def bm25_scores(query: Any, doc_sparse: list[Any], df: dict[int, int], n: int) -> np.ndarray:
    idf = {t: math.log((n - df.get(t, 0) + 0.5) / (df.get(t, 0) + 0.5) + 1) for t in query.indices}
    out = np.zeros(len(doc_sparse))
    for i, s in enumerate(doc_sparse):
        values = dict(zip(s.indices, s.values, strict=True))
        out[i] = sum(idf[t] * values.get(t, 0.0) for t in query.indices)
    return out


def dbsf(rankings: list[dict[str, float]], limit: int) -> dict[str, float]:
    fused: dict[str, float] = {}
    for ranking in rankings:
        scores = np.array(list(ranking.values()))
        std = scores.std(ddof=1) if len(scores) > 1 else 0.0
        low, high = scores.mean() - 3 * std, scores.mean() + 3 * std
        for d, s in ranking.items():
            fused[d] = fused.get(d, 0.0) + (0.5 if std == 0 else (s - low) / (high - low))
    return dict(sorted(fused.items(), key=lambda x: -x[1])[:limit])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("dataset", type=Path)
    add_model_options(ap)
    ap.add_argument("--docs", type=int, default=2048)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache/msrag/bench-vectors")
    ap.add_argument("--output", type=Path, default=RESULTS / "adapt.json")
    args = ap.parse_args()

    settings = settings_from(args, pool_factor=1, colbert_datatype="float32", muvera=False)
    full = load_beir(args.dataset)
    dataset = load_subset(args.dataset, args.docs)
    encoders = Encoders(settings)
    folder = cache_dir(args.cache, settings, encoders, full)
    docs: dict[str, Any] = {}
    for part in cached_documents(folder):
        docs.update({d: v for d, v in part.items() if d in dataset.corpus})
        if len(docs) == len(dataset.corpus):
            break
    if len(docs) != len(dataset.corpus):
        raise SystemExit(
            f"The cache {folder} holds {len(docs)} of {len(dataset.corpus)} documents."
        )
    # queries are short: encoded here (the shared cache's query file is the lead's to write)
    queries = {q: encoders.encode_query(text) for q, text in dataset.queries.items()}
    tokenizer = Tokenizer.from_file(str(Path(settings.colbert_model) / "tokenizer.json"))
    titles = {d: t for d, (t, _) in dataset.corpus.items()}

    data = pairs({d: v.colbert for d, v in docs.items()}, titles, tokenizer)
    console.print(f"{len(data)} title↔passage pairs from {len(docs)} documents (corpus text only)")
    rng = np.random.default_rng(0)
    sample = np.concatenate([docs[d].colbert for d in rng.choice(list(docs), 300, replace=False)])
    w0 = pca_start(sample, args.dim)
    start = time.perf_counter()
    w, log = train(data, w0)
    train_s = time.perf_counter() - start

    ids = list(docs)
    dense = np.stack([docs[d].dense for d in ids])
    sparse = [docs[d].sparse for d in ids]
    df: dict[int, int] = {}
    for s in sparse:
        for t in s.indices:
            df[t] = df.get(t, 0) + 1
    variants = {"raw-384": None, f"pca-{args.dim}": w0, f"trained-{args.dim}": w}
    tokens = {
        name: {d: (docs[d].colbert if m is None else project(docs[d].colbert, m)[0]) for d in ids}
        for name, m in variants.items()
    }
    runs: dict[str, dict[str, dict[str, float]]] = {}
    for qid, q in queries.items():
        if qid not in dataset.queries:
            continue
        ds = dense @ q.dense
        bs = bm25_scores(q.sparse, sparse, df, len(ids))
        top_d = {ids[i]: float(ds[i]) for i in np.argsort(-ds)[:100]}
        top_b = {ids[i]: float(bs[i]) for i in np.argsort(-bs)[:100] if bs[i] > 0}
        union = list(dict.fromkeys([*top_d, *top_b]))
        for name, m in variants.items():
            qt = q.colbert if m is None else project(q.colbert, m)[0]
            ms = {d: float((qt @ tokens[name][d].T).max(axis=1).sum()) for d in union}
            ranked = dict(sorted(ms.items(), key=lambda x: -x[1])[:100])
            runs.setdefault(f"{name} maxsim", {})[qid] = ranked
            runs.setdefault(f"{name} dbsf", {})[qid] = dbsf([ranked, top_b, top_d], 100)
    qrels = {q: dataset.qrels[q] for q in dataset.queries}
    results = {name: score_run(qrels, run) for name, run in runs.items()}
    per_q = {name: per_query_scores(qrels, run) for name, run in runs.items()}
    qids = list(qrels)
    for name in list(results):
        base = name.replace(f"trained-{args.dim}", "raw-384").replace(f"pca-{args.dim}", "raw-384")
        if base != name:
            results[name]["vs_raw_ndcg@10"] = paired_bootstrap(
                [per_q[name][q] for q in qids], [per_q[base][q] for q in qids]
            )
    for name, r in results.items():
        ci = r.get("vs_raw_ndcg@10")
        extra = (
            f"  Δ {ci['mean']:+.3f} [{ci['ci95_low']:+.3f}, {ci['ci95_high']:+.3f}]" if ci else ""
        )
        console.print(f"{name:24s} nDCG@10 {r['ndcg@10']:.3f}  R@100 {r['recall@100']:.3f}{extra}")
    write_report(
        args.output,
        {
            "dataset": dataset.name,
            "documents": len(docs),
            "queries": len(qids),
            "trained_on": "title token vectors (pseudo-query) vs the remaining token vectors of "
            "the same document, in-batch negatives; corpus text only, no queries, no qrels",
            "pairs": len(data),
            "dim": args.dim,
            "constants": {"temperature": TEMPERATURE, "lr": LR, "batch": BATCH, "epochs": EPOCHS},
            "train_s": train_s,
            "train_log": log,
            "results": results,
        },
    )
    console.print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
