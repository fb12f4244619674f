"""Assistant benchmark on SciFact (or any BEIR folder): our overhead, citation quality, refusal.

1. Time to first token with a scripted OpenAI-compatible server that answers instantly
   (tests/llm_server.py over real HTTP): what remains is our overhead — retrieve (encode +
   search), refusal check, token packing, prompt rendering, the HTTP round trip. No history, so
   no condense call. Target: p50 ≤ 60 ms with the offline models.
2. Extractive mode (no LLM) on every query: the share of answers whose cited passages include a
   relevant document, next to what retrieval alone offers (a relevant document at rank 1 / in
   the passages sent).
3. `--calibrate`: the refusal thresholds of assistant/refusal.py. The top relevance of every
   query (answerable: its relevant documents are in the collection) against that of off-topic
   questions; the threshold is the cut with the best balanced accuracy between the two, midway
   between the scores around it. Reported too: the refusal rate for the same queries with
   their relevant documents filtered out (same-domain, unanswerable — for those the prompt makes
   the model say the passages do not answer) and the threshold that keeps 95 % answered.

It reuses the collection `msrag eval` / bench/retrieval.py built for the dataset (same models
and layout → same collection name) and ingests only what is missing.

    python -m bench.assistant ../shared/data/scifact --offline
    python -m bench.assistant ../shared/data/scifact --offline --calibrate --data-dir /tmp/d
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from assistant.chat import Assistant
from assistant.refusal import DEFAULT_THRESHOLDS, needs_stored_maxsim
from assistant.refusal import top_relevance as refusal_evidence
from assistant.types import TextEvent
from bench.harness import add_model_options, pct, settings_from, summary
from msrag.settings import Settings
from retrieval.encoders import Encoders
from retrieval.ingest.evaluate import BeirDataset, load_beir, open_dataset_store
from retrieval.retriever import MultiStageRetriever
from retrieval.types import Filter
from tests.llm_server import Reply, ScriptedLLM

console = Console()
CHAT_TOP_K = 5  # passages a chat turn sends (Settings.top_k's default)

# Questions no scientific-claims corpus answers: the easy negatives for the refusal threshold.
OFF_TOPIC = [
    "Who won the 1998 football World Cup?",
    "What is the capital of Peru?",
    "How do I reset my router password?",
    "What is the best way to change a bicycle tyre?",
    "When does the next train to Edinburgh leave?",
    "How long should I bake a sourdough loaf?",
    "Who wrote the novel Pride and Prejudice?",
    "What time does the office open on Saturdays?",
    "How many players are on a basketball team?",
    "Which programming language should I learn first?",
    "What is the exchange rate between euros and dollars?",
    "How do I file my tax return online?",
    "What is the tallest mountain in Africa?",
    "Can you recommend a good pizza restaurant in Rome?",
    "How do I change the oil in my car?",
    "Who painted the Mona Lisa?",
    "What are the rules of chess castling?",
    "How do I knit a scarf for beginners?",
    "When was the Eiffel Tower built?",
    "What is the plot of the movie Casablanca?",
]


def first_token_latency(
    settings: Settings, retriever: MultiStageRetriever, queries: list[str], warmup: int
) -> dict[str, Any]:
    """Question → first answer token through the scripted server, per stage."""
    with ScriptedLLM(default=lambda body: Reply("Answer [1].", chunks=("Answer", " [1]."))) as srv:
        s = settings.model_copy(
            update={
                "openai_base_url": srv.url,
                "openai_api_key": SecretStr("bench-key"),
                "llm_model": "test-model",
                "min_rerank_score": -1e9,  # every query goes to the model
            }
        )
        assistant = Assistant(s, retriever)
        for q in queries[:warmup]:
            assistant.ask(q)
        rows: dict[str, list[float]] = {
            k: [] for k in ("first_token_ms", "retrieve_ms", "encode_ms", "search_ms", "pack_ms")
        }
        rows["http_first_token_ms"] = []
        rows["assistant_overhead_ms"] = []
        rows["wall_first_token_ms"] = []
        for q in queries:
            start = time.perf_counter()
            wall = None
            for event in assistant.stream(q):
                if wall is None and isinstance(event, TextEvent):
                    wall = (time.perf_counter() - start) * 1000
                answer = getattr(event, "answer", None)
            assert answer is not None and answer.ok, answer and answer.error
            t = answer.timings
            rows["first_token_ms"].append(t.first_token_ms)
            rows["wall_first_token_ms"].append(wall or float("nan"))
            rows["retrieve_ms"].append(t.retrieve_ms)
            rows["encode_ms"].append(t.encode_ms)
            rows["search_ms"].append(t.search_ms)
            rows["pack_ms"].append(t.pack_ms)
            rows["http_first_token_ms"].append(t.first_token_ms - t.retrieve_ms - t.pack_ms)
            # everything but the retriever's own encode + search: what this package adds
            rows["assistant_overhead_ms"].append(t.first_token_ms - t.encode_ms - t.search_ms)
    return {k: summary(v) for k, v in rows.items()}


def extractive_quality(
    settings: Settings, retriever: MultiStageRetriever, dataset: BeirDataset, qids: list[str]
) -> dict[str, Any]:
    """No LLM: does what we cite include a relevant document? And what would refusal do?"""
    s = settings.model_copy(
        update={"openai_base_url": None, "openai_api_key": None, "min_rerank_score": -1e9}
    )
    assistant = Assistant(s, retriever)
    threshold = DEFAULT_THRESHOLDS.get(settings.mode)
    cited_hit = top1_hit = sent_hit = refused = answered_hit = 0
    cited_counts = []
    for qid in qids:
        relevant = {d for d, grade in dataset.qrels[qid].items() if grade > 0}
        answer = assistant.ask(dataset.queries[qid])
        cited = {src.doc_id for src in answer.sources}
        sent = [src.doc_id for src in answer.all_sources]
        cited_counts.append(len(cited))
        hit = bool(cited & relevant)
        cited_hit += hit
        top1_hit += bool(sent and sent[0] in relevant)
        sent_hit += bool(set(sent) & relevant)
        is_refused = (
            threshold is not None and answer.top_score is not None and answer.top_score < threshold
        )
        refused += is_refused
        answered_hit += hit and not is_refused
    n = len(qids)
    answered = n - refused
    return {
        "queries": n,
        "cited_relevant_share": cited_hit / n,
        "relevant_at_rank1_share": top1_hit / n,
        "relevant_in_sent_passages_share": sent_hit / n,
        "mean_cited_passages": statistics.fmean(cited_counts) if cited_counts else 0.0,
        "threshold": threshold,
        "refused_share_at_threshold": refused / n,
        "cited_relevant_share_of_answered": answered_hit / answered if answered else float("nan"),
    }


def top_relevance(
    retriever: MultiStageRetriever,
    encoders: Encoders,
    query: str,
    mode: str,
    filter: Filter | None = None,
) -> float | None:
    """The evidence the assistant's refusal check sees: the top score's relevance, or for a
    fused mode the best stored-vector MaxSim of the passages a chat sends."""
    fused = needs_stored_maxsim(mode)
    res = retriever.search(
        query, mode=mode, top_k=CHAT_TOP_K if fused else 1, filter=filter, relevance=fused
    )
    return refusal_evidence(res.passages, mode, res.query_tokens)


def separating_threshold(answerable: list[float], off_topic: list[float]) -> float:
    """The cut that best separates answerable from off-topic questions (balanced accuracy),
    placed midway between the two scores it falls between (so neither side sits on it)."""
    labelled = sorted([(v, True) for v in answerable] + [(v, False) for v in off_topic])
    values = [v for v, _ in labelled]
    best, best_score = values[0], -1.0
    for i in range(len(labelled) + 1):
        # refuse labelled[:i], answer labelled[i:]
        refused_off = sum(1 for _, pos in labelled[:i] if not pos) / len(off_topic)
        answered = sum(1 for _, pos in labelled[i:] if pos) / len(answerable)
        score = refused_off + answered
        if score > best_score:
            lo = values[i - 1] if i > 0 else values[0] - 0.01
            hi = values[i] if i < len(values) else values[-1] + 0.01
            best, best_score = (lo + hi) / 2, score
    return best


def calibrate(
    retriever: MultiStageRetriever,
    encoders: Encoders,
    dataset: BeirDataset,
    qids: list[str],
    modes: list[str],
    keep: float,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in modes:
        pos, neg, off = [], [], []
        for qid in qids:
            q = dataset.queries[qid]
            relevant = [d for d, grade in dataset.qrels[qid].items() if grade > 0]
            p = top_relevance(retriever, encoders, q, mode)
            n = top_relevance(retriever, encoders, q, mode, Filter(must_not={"doc_id": relevant}))
            if p is not None:
                pos.append(p)
            if n is not None:
                neg.append(n)
        for q in OFF_TOPIC:
            o = top_relevance(retriever, encoders, q, mode)
            if o is not None:
                off.append(o)
        keep_threshold = pct(pos, 100 * (1 - keep))
        threshold = separating_threshold(pos, off)
        out[mode] = {
            "threshold": round(threshold, 3),
            "answered_share": sum(p >= threshold for p in pos) / len(pos),
            "refused_off_topic_share": sum(o < threshold for o in off) / len(off),
            "refused_same_domain_share": sum(n < threshold for n in neg) / len(neg),
            "threshold_keeping_share": round(keep_threshold, 3),
            "keep_share": keep,
            "answerable": summary(pos) | {"min": min(pos), "p5": pct(pos, 5)},
            "unanswerable_same_domain": summary(neg),
            "off_topic": summary(off) | {"max": max(off)},
            "current_default": DEFAULT_THRESHOLDS.get(mode),
        }
        console.print(f"  calibrated {mode}: {out[mode]['threshold']}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("dataset", type=Path)
    add_model_options(ap)
    ap.add_argument("--data-dir", type=Path, default=None, help="where the collection lives")
    ap.add_argument("--mode", default=None, help="retrieval mode (default: settings)")
    ap.add_argument("--queries", type=int, default=None, help="only the first N queries")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--calibrate", action="store_true", help="also calibrate refusal thresholds")
    ap.add_argument(
        "--calibrate-modes",
        nargs="*",
        default=["dense", "dense+colbert", "bm25+colbert", "hybrid+colbert"],
    )
    ap.add_argument("--keep", type=float, default=0.95, help="answerable share to keep answering")
    ap.add_argument("--output", type=Path, default=Path("bench/results/assistant.json"))
    args = ap.parse_args()

    update: dict[str, Any] = {}
    if args.data_dir is not None:
        update["data_dir"] = args.data_dir
    if args.mode:
        update["mode"] = args.mode
    settings = settings_from(args, **update)

    dataset = load_beir(args.dataset)
    encoders = Encoders(settings)
    ds_settings, store = open_dataset_store(settings, dataset, encoders)
    retriever = MultiStageRetriever.from_settings(ds_settings, encoders=encoders, store=store)
    qids = list(dataset.queries)[: args.queries]
    queries = [dataset.queries[q] for q in qids]
    console.print(
        f"{dataset.name}: {len(dataset.corpus)} documents, {len(qids)} queries, "
        f"mode {ds_settings.mode}, top_k {ds_settings.top_k}"
    )

    latency = first_token_latency(ds_settings, retriever, queries, args.warmup)
    quality = extractive_quality(ds_settings, retriever, dataset, qids)
    calibration = (
        calibrate(retriever, encoders, dataset, qids, args.calibrate_modes, args.keep)
        if args.calibrate
        else None
    )
    retriever.close()

    table = Table(title=f"Time to first token, scripted server ({len(qids)} queries, ms)")
    for col in ("stage", "p50", "p95", "mean"):
        table.add_column(col, justify="right" if col != "stage" else "left")
    for stage, row in latency.items():
        table.add_row(stage, f"{row['p50']:.1f}", f"{row['p95']:.1f}", f"{row['mean']:.1f}")
    console.print(table)
    target = latency["first_token_ms"]["p50"] <= 60
    console.print(
        f"p50 first token ≤ 60 ms: {'yes' if target else 'NO'}; load average (1, 5, 15 min): "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
    )

    table = Table(title="Extractive answers")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in quality.items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    console.print(table)

    if calibration:
        table = Table(title="Refusal calibration: answerable vs off-topic questions")
        for col in (
            "mode",
            "threshold",
            "answered",
            "refused off-topic",
            "refused same-domain",
            f"keep {args.keep:.0%}",
            "answerable p5",
            "off-topic max",
        ):
            table.add_column(col, justify="right" if col != "mode" else "left")
        for mode, row in calibration.items():
            table.add_row(
                mode,
                f"{row['threshold']:.3f}",
                f"{row['answered_share']:.1%}",
                f"{row['refused_off_topic_share']:.1%}",
                f"{row['refused_same_domain_share']:.1%}",
                f"{row['threshold_keeping_share']:.3f}",
                f"{row['answerable']['p5']:.3f}",
                f"{row['off_topic']['max']:.3f}",
            )
        console.print(table)

    report = {
        "dataset": dataset.name,
        "documents": len(dataset.corpus),
        "queries": len(qids),
        "mode": ds_settings.mode,
        "top_k": ds_settings.top_k,
        "models": encoders.model_ids,
        "first_token": latency,
        "first_token_p50_target_ms": 60,
        "first_token_p50_met": target,
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
        "extractive": quality,
        "calibration": calibration,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    console.print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
