"""How much later an answer comes in a long conversation than in a fresh one (the Chat page).

    python -m bench.conversation --offline [--turns 50] [--repeats 5]

Ingests the demo documents, stores a conversation of `--turns` answered turns, then times one
script run of the real page (Streamlit's AppTest: the whole server-side run — history redrawn,
retrieval, answer, saving, the element tree serialised) for the same question asked:

- `fresh`: in a new conversation;
- `long`: at the end of the stored conversation, as the page draws it (the latest 10 turns,
  older answers' sources and case form behind their toggle);
- `long, all turns drawn`: the same after "Show earlier turns" (every turn drawn, collapsed);
- `long, all turns, panels open`: every turn with every sources panel drawn — what the page
  did before (each answer redrew all the sources of every earlier one).

The three run interleaved in each repeat, so load on the machine hits them alike; the table
reports p50 and the ratio to `fresh` from this one run. Answers are extractive (no LLM) so the
model's own latency, which a long history does not change, does not blur the ratio. Writes
bench/results/conversation.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import RESULTS, add_model_options, settings_from, summary, write_report

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "ui" / "app.py"
DOCS = REPO / "examples" / "docs"
QUESTIONS = [
    "When was Ada Lovelace born?",
    "How high did the Zephyr-9 balloon reach?",
    "How many days of paid holiday do Northwind employees get?",
    "Who built the Cape Wrath lighthouse?",
    "How long should sourdough proof?",
    "What do plants need for photosynthesis?",
    "How should green tea be brewed?",
    "Which office plants need little light?",
]
ASKED = "What did Ada Lovelace write about the Analytical Engine?"


def build(data: Path, args: argparse.Namespace, turns: int) -> tuple[dict[str, str], int]:
    """Store with the demo documents and a `turns`-turn conversation; the page's environment."""
    from assistant.chat import Assistant
    from assistant.conversations import ConversationStore
    from retrieval.ingest.pipeline import ingest
    from retrieval.retriever import MultiStageRetriever

    settings = settings_from(args, data_dir=data, openai_api_key=None, openai_base_url=None)
    retriever = MultiStageRetriever.from_settings(settings)
    try:
        assert ingest([DOCS], settings, retriever.store, retriever.encoders, progress=False).ok
        assistant = Assistant(settings, retriever)
        with ConversationStore(settings.conversations_path) as store:
            cid = None
            for i in range(turns):
                answer = assistant.ask(QUESTIONS[i % len(QUESTIONS)])
                cid = store.add_turn(cid, answer, top_k=5, model_label="bench").conversation_id
    finally:
        retriever.close()
    env = {
        "MSRAG_DATA_DIR": str(data),
        "MSRAG_DENSE_MODEL": settings.dense_model,
        "MSRAG_SPARSE_MODEL": settings.sparse_model,
        "MSRAG_COLBERT_MODEL": settings.colbert_model,
        "MSRAG_POOL_FACTOR": str(settings.pool_factor),
        "MSRAG_COLBERT_DATATYPE": settings.colbert_datatype,
    }
    assert cid is not None
    return env, cid


def ask_once(conversation: int | None, open_panels: bool, all_turns: bool) -> tuple[float, int]:
    """One page session: open (the conversation), then time asking ASKED. (ms, answers drawn)"""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=600)
    if conversation is not None:
        at.query_params["c"] = str(conversation)
    at.run()
    if all_turns:
        at.session_state["show_all_turns"] = True
    if open_panels:
        for message in at.session_state["messages"]:
            if message["role"] == "assistant":
                at.session_state[f"sources-{message['turn']}"] = True
    started = time.perf_counter()
    at.chat_input[0].set_value(ASKED).run()
    elapsed = (time.perf_counter() - started) * 1000
    assert not at.exception, [e.value for e in at.exception]
    answers = [m for m in at.chat_message if m.name == "assistant"]
    assert answers and answers[-1].markdown, "the question was not answered"
    return elapsed, len(answers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_model_options(ap)
    ap.add_argument("--turns", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--output", type=Path, default=RESULTS / "conversation.json")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        env, cid = build(data, args, args.turns)
        os.environ.update(env)
        os.chdir(tmp)  # no developer .env
        pristine = Path(tmp) / "pristine.db"
        shutil.copy(data / "conversations.db", pristine)
        variants = {
            "fresh": (None, False, False),
            "long": (cid, False, False),
            "long, all turns drawn": (cid, False, True),
            "long, all turns, panels open": (cid, True, True),
        }
        ask_once(None, False, False)  # warm-up: models loaded, caches filled
        times: dict[str, list[float]] = {name: [] for name in variants}
        drawn: dict[str, int] = {}
        for _ in range(args.repeats):
            for name, (conversation, open_panels, all_turns) in variants.items():
                # always `turns` turns before; a new file (inode), so the page reopens it
                shutil.copy(pristine, data / "next.db")
                for suffix in ("-wal", "-shm"):
                    Path(f"{data / 'conversations.db'}{suffix}").unlink(missing_ok=True)
                os.replace(data / "next.db", data / "conversations.db")
                ms, answers = ask_once(conversation, open_panels, all_turns)
                times[name].append(ms)
                drawn[name] = answers
    fresh = summary(times["fresh"])["p50"]
    report: dict[str, Any] = {"turns": args.turns, "repeats": args.repeats, "variants": {}}
    print(f"\nOne question on the Chat page (AppTest script run), {args.turns}-turn conversation")
    print(f"{'variant':<26} {'answers':>8} {'p50 ms':>9} {'p95 ms':>9} {'vs fresh':>9}")
    for name, values in times.items():
        stats = summary(values)
        ratio = stats["p50"] / fresh
        report["variants"][name] = {"answers_drawn": drawn[name], "ms": stats, "ratio": ratio}
        print(
            f"{name:<26} {drawn[name]:>8} {stats['p50']:>9.0f} {stats['p95']:>9.0f} {ratio:>8.2f}x"
        )
    write_report(REPO / args.output if not args.output.is_absolute() else args.output, report)
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
