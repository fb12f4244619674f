"""Load: several users chatting with one `msrag ui` process, and 8 threads on the library directly.

1. **Browser users** (`--users 8 --seconds 60`): one `msrag ui` process on the embedded store, and
   one headless Debian Chromium with a Playwright browser context per user — the real Streamlit
   protocol (websocket, reruns, deltas) exactly as a person's browser speaks it. Every page is
   opened before the clock starts (page loads are timed apart); then each user holds
   conversations of a question and a follow-up (so the history goes to the condense step), then
   presses "New chat". The LLM is the scripted OpenAI-compatible server
   (`tests/llm_server.py` replying as `tests/regress/demo_llm.py`: real HTTP and SSE, instant
   replies word by word), so the times are the product's own: Streamlit, retrieval, packing,
   parsing; or pass `--llm-url` for a real server (e.g. llama.cpp, see tests/live). Measured:
   questions/s, time to first answer text and to the full answer (sources drawn) as the browser
   sees them, the stage times the page reports, errors (must be 0), and the UI process's RSS once
   a second (must plateau). `--upload-at S`: S seconds in, a further browser context uploads a new
   document on the Documents page while the users chat; every user's next question is about it,
   and its answer must cite it.
2. **Threads** (`--thread-seconds`): 8 threads calling `Assistant.ask` and
   `MultiStageRetriever.aretrieve` on one shared retriever, against the answers to the same
   questions asked one at a time first: errors and mismatches (must be 0).

Everything listens on 127.0.0.1 and is bounded in time and count. Run it niced on a shared box:

    nice -n 10 python -m bench.load --offline
    nice -n 10 python -m bench.load --offline --users 8 --seconds 60 --upload-at 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.harness import RESULTS, add_model_options, settings_from, summary, write_report
from msrag.settings import Settings
from tests.streamlit_health import wait_until_serving

console = Console()
REPO = Path(__file__).resolve().parent.parent
DEMO_DOCS = REPO / "examples" / "docs"
CHROMIUM = Path("/usr/lib/chromium/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # several tabs at once outgrow a container's small /dev/shm: renderers crash without this
    "--disable-dev-shm-usage",
]  # fmt: skip
STEP_TIMEOUT_MS = 90_000  # one question, under load, at most
THINK_S = 0.5  # a user reads before typing the next question

# Conversations: a question, then a follow-up that needs the history.
CONVERSATIONS = [
    ("Who were Ada Lovelace's tutors?", "When was she born?"),
    (
        "How many days of paid holiday do Northwind Kites employees get?",
        "How much are meals on business trips reimbursed per day at Northwind Kites?",
    ),
    ("Where in a plant does photosynthesis take place?", "What about in algae?"),
    ("How hot should the oven be to bake the country sourdough loaf?", "And for how long?"),
    ("What water temperature is right for brewing sencha?", "How long should it steep?"),
    ("When was the Skerryvore Point lighthouse first lit?", "Who built it?"),
    ("How often should the pothos in the office be watered?", "And the other plants?"),
    ("What altitude did the Zephyr-9 weather balloon reach?", "When was its maiden flight?"),
]
# The uploaded document and the question only it answers.
UPLOAD_NAME = "quillfeather_observatory.md"
UPLOAD_TEXT = (
    "# Quillfeather Observatory\n\nThe Quillfeather Observatory was founded in 1897 by the "
    "astronomer Marta Oyelaran on the ridge above Lake Venn. Its great refractor has a "
    "lens of 61 centimetres.\n"
)
UPLOAD_QUESTION = "Who founded the Quillfeather Observatory?"
UPLOAD_FACT = "Marta Oyelaran"

# Read in the page: the answer body, its sources, errors, and the sidebar's stage timings.
_LAST_ANSWER_TEXT = """([n]) => {
  const msgs = document.querySelectorAll('[data-testid=stChatMessage]');
  if (msgs.length < n) return null;
  const a = msgs[n - 1].querySelector('.msrag-answer');
  return a && a.innerText.trim().length > 0 ? a.innerText : null;
}"""
_ASKED = """([n]) => document.querySelectorAll('[data-testid=stChatMessage]').length >= n"""
# Done: the feedback buttons are drawn last, after the answer and its sources (or an error).
# Waiting on the answer text alone read some replies mid-stream, before their sources.
_LAST_DONE = """([n]) => {
  const msgs = document.querySelectorAll('[data-testid=stChatMessage]');
  if (msgs.length < n || document.querySelector('[data-testid=stStatusWidget]')) return false;
  const m = msgs[n - 1];
  return !!(m.querySelector('[data-testid=stFeedbackButton]')
            || m.querySelector('[data-testid=stAlert]'));
}"""
_STAGE = re.compile(r"(condense|retrieve|generate|first token|total): ([\d,]+) ms")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (the UI server is a child of
    `msrag ui`), in MB; 0 when it is gone."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1024


# --- 1. browser users ------------------------------------------------------------------------


@dataclass
class Turn:
    user: int
    question: str
    started: float
    first_text_s: float | None = None
    full_s: float | None = None
    stages: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    answer: str = ""
    sources: str = ""
    resent: bool = False  # the first Enter was lost (counted, reported)


@dataclass
class UiRun:
    url: str
    users: int
    seconds: float
    upload_at: float | None
    turns: list[Turn] = field(default_factory=list)
    rss: list[tuple[float, float]] = field(default_factory=list)
    page_loads: list[float] = field(default_factory=list)  # seconds to a usable page
    open_errors: list[str] = field(default_factory=list)  # pages that failed to load
    upload: dict[str, Any] = field(default_factory=dict)
    uploaded: asyncio.Event = field(default_factory=asyncio.Event)


async def _open_page(browser: Any, url: str) -> Any:
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    await page.goto(url)
    await page.get_by_test_id("stChatInputTextArea").wait_for(timeout=STEP_TIMEOUT_MS)
    await page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget]')",
        timeout=STEP_TIMEOUT_MS,
    )
    return page


async def _ask(page: Any, run: UiRun, user: int, question: str, n: int) -> Turn:
    """Send `question` as the page's `n`-th message pair and time what the browser shows."""
    turn = Turn(user=user, question=question, started=time.monotonic())
    try:
        await asyncio.sleep(THINK_S)
        # count what the page shows now rather than trusting the conversation to be as we left it
        n = await page.locator("[data-testid=stChatMessage]").count() // 2 + 1
        box = page.get_by_test_id("stChatInputTextArea")
        await box.fill(question)
        await box.press("Enter")
        t0 = time.monotonic()
        try:  # the question shows in the conversation at once; if not, the key press was lost
            await page.wait_for_function(_ASKED, arg=[2 * n - 1], polling=20, timeout=15_000)
        except Exception:
            turn.resent = True
            await box.fill(question)
            await box.press("Enter")
        await page.wait_for_function(
            _LAST_ANSWER_TEXT, arg=[2 * n], polling=20, timeout=STEP_TIMEOUT_MS
        )
        turn.first_text_s = time.monotonic() - t0
        await page.wait_for_function(_LAST_DONE, arg=[2 * n], polling=20, timeout=STEP_TIMEOUT_MS)
        turn.full_s = time.monotonic() - t0
        message = page.locator("[data-testid=stChatMessage]").nth(2 * n - 1)
        if await message.locator("[data-testid=stAlert]").count():
            turn.error = await message.locator("[data-testid=stAlert]").first.inner_text()
        answer = message.locator(".msrag-answer")
        turn.answer = await answer.first.inner_text() if await answer.count() else ""
        # text_content: uncited sources sit in a collapsed expander (not rendered as text)
        heads = await message.locator(".msrag-source-head, .msrag-source-meta").all_text_contents()
        turn.sources = " | ".join(heads)
        sidebar = await page.get_by_test_id("stSidebar").inner_text()
        turn.stages = {k: float(v.replace(",", "")) for k, v in _STAGE.findall(sidebar)}
    except Exception as exc:  # a timeout or a dead page is an error of this turn, not the run
        turn.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    run.turns.append(turn)
    return turn


async def _new_chat(page: Any) -> None:
    """The sidebar's "New chat": the same session, an empty conversation."""
    await page.get_by_role("button", name="New chat").click()
    await page.wait_for_function(
        "() => !document.querySelector('[data-testid=stChatMessage]')"
        " && !document.querySelector('[data-testid=stStatusWidget]')",
        polling=50,
    )


async def _user(browser: Any, run: UiRun, user: int, page: Any, deadline: float) -> None:
    """Conversations back to back in one browser session: a question, its follow-up (and, once
    the upload is done, first a question about the new document), then "New chat"."""
    rng = random.Random(user)
    asked_upload = False
    while time.monotonic() < deadline:
        first, follow = CONVERSATIONS[rng.randrange(len(CONVERSATIONS))]
        questions = [first, follow]
        if run.uploaded.is_set() and run.upload.get("ok") and not asked_upload:
            questions.insert(0, UPLOAD_QUESTION)
            asked_upload = True
        stuck = False
        for n, question in enumerate(questions, start=1):
            if time.monotonic() >= deadline:
                break
            turn = await _ask(page, run, user, question, n)
            stuck = turn.error is not None and turn.full_s is None
            if stuck:
                break
        try:
            if stuck:
                raise RuntimeError("stuck")
            await _new_chat(page)
        except Exception:  # a stuck page: reload it, as a user would (a new session)
            await page.context.close()
            opened = time.monotonic()
            page = await _open_page(browser, run.url)
            run.page_loads.append(time.monotonic() - opened)
    await page.context.close()


async def _uploader(run: UiRun, page: Any, folder: Path) -> None:
    assert run.upload_at is not None
    await asyncio.sleep(run.upload_at)
    file = folder / UPLOAD_NAME
    file.write_text(UPLOAD_TEXT)
    t0 = time.monotonic()
    try:
        # uploads live on the Documents page: switch to it in the same session, as a user does
        await page.get_by_test_id("stSidebarNavLink").filter(has_text="Documents").first.click()
        picker = page.locator("[data-testid=stFileUploader] input[type=file]")
        await picker.set_input_files(str(file))
        await page.get_by_role("button", name="Add to the store").click()
        await page.get_by_text(f"{UPLOAD_NAME} — ingested").wait_for(timeout=STEP_TIMEOUT_MS)
        run.upload = {"seconds": time.monotonic() - t0, "ok": True, "at_s": run.upload_at}
    except Exception as exc:
        run.upload = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    finally:
        run.uploaded.set()
        await page.context.close()


async def _sample_rss(pid: int, run: UiRun, stop: asyncio.Event) -> None:
    t0 = time.monotonic()
    while not stop.is_set():
        run.rss.append((time.monotonic() - t0, tree_rss_mb(pid)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


async def _drive(run: UiRun, pid: int, folder: Path) -> float:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        try:
            # warm-up (not measured): the first session loads the models and opens the store
            page = await _open_page(browser, run.url)
            await _ask(page, run, -1, CONVERSATIONS[0][0], 1)
            await page.context.close()
            run.turns.clear()
            # every user's page is open before the clock starts (page loads are timed apart)
            pages = []
            for _ in range(run.users + (run.upload_at is not None)):
                opened = time.monotonic()
                try:
                    pages.append(await _open_page(browser, run.url))
                except Exception as exc:  # counted, then one more try
                    run.open_errors.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
                    pages.append(await _open_page(browser, run.url))
                run.page_loads.append(time.monotonic() - opened)
            stop = asyncio.Event()
            sampler = asyncio.create_task(_sample_rss(pid, run, stop))
            started = time.monotonic()
            deadline = started + run.seconds
            tasks = [_user(browser, run, u, pages[u], deadline) for u in range(run.users)]
            if run.upload_at is not None:
                tasks.append(_uploader(run, pages[-1], folder))
            # bounded: every step has its own timeout; the whole run one more
            await asyncio.wait_for(
                asyncio.gather(*tasks), timeout=run.seconds + 3 * STEP_TIMEOUT_MS / 1000
            )
            elapsed = time.monotonic() - started
            stop.set()
            await sampler
            return elapsed
        finally:
            await browser.close()


def _ingest_demo(settings: Settings) -> None:
    from retrieval.encoders import Encoders
    from retrieval.ingest.pipeline import ingest
    from retrieval.stores import open_store

    encoders = Encoders(settings)
    store = open_store(settings, encoders.layout(settings))
    try:
        report = ingest([DEMO_DOCS], settings, store, encoders, progress=False)
        if not report.ok:
            raise SystemExit(f"ingest failed: {report.summary()}")
    finally:
        store.close()


def _ui_env(settings: Settings, llm_url: str, llm_model: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MSRAG_", "OPENAI_"))}
    env.update(
        {
            "MSRAG_DATA_DIR": str(settings.data_dir),
            "MSRAG_DENSE_MODEL": settings.dense_model,
            "MSRAG_SPARSE_MODEL": settings.sparse_model,
            "MSRAG_COLBERT_MODEL": settings.colbert_model,
            "OPENAI_BASE_URL": llm_url,
            "MSRAG_LLM_MODEL": llm_model,
            "STREAMLIT_SERVER_HEADLESS": "true",
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
            "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
            "OPENBLAS_NUM_THREADS": "1",
        }
    )
    return env


def run_ui(args: argparse.Namespace, settings: Settings, llm_url: str, folder: Path) -> dict:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = folder / "ui.log"
    msrag = Path(sys.executable).with_name("msrag")
    with log_path.open("wb") as log:
        ui = subprocess.Popen(
            [str(msrag), "ui", "--port", str(port), "--address", "127.0.0.1"],
            cwd=folder, env=_ui_env(settings, llm_url, args.llm_model),
            stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the Streamlit child stops with it
        )  # fmt: skip
    try:
        try:
            wait_until_serving(url, ui, 120)
        except RuntimeError as exc:
            raise SystemExit(
                f"msrag ui did not start ({exc}):\n{log_path.read_text()[-2000:]}"
            ) from None
        run = UiRun(url=url, users=args.users, seconds=args.seconds, upload_at=args.upload_at)
        elapsed = asyncio.run(_drive(run, ui.pid, folder))
    finally:
        # `msrag ui` runs Streamlit as a child: signal the group this bench started
        os.killpg(ui.pid, signal.SIGTERM)
        try:
            ui.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)
            ui.wait()
    server_log = log_path.read_text(errors="replace")
    return _ui_report(run, elapsed, server_log)


def _ui_report(run: UiRun, elapsed: float, server_log: str) -> dict:
    done = [t for t in run.turns if t.full_s is not None and t.error is None]
    errors = [
        {"user": t.user, "question": t.question, "error": t.error} for t in run.turns if t.error
    ]
    stages: dict[str, list[float]] = {}
    for t in done:
        for k, v in t.stages.items():
            stages.setdefault(k, []).append(v)
    rss = [mb for _, mb in run.rss]
    third = max(len(rss) // 3, 1)
    middle, last = rss[third : 2 * third] or rss, rss[-third:]
    upload_checks = []
    if run.upload:
        for t in run.turns:
            if t.question == UPLOAD_QUESTION:
                upload_checks.append(
                    {
                        "user": t.user,
                        "cites_upload": UPLOAD_NAME in t.sources,
                        "states_fact": UPLOAD_FACT in t.answer,
                        "error": t.error,
                    }
                )
    return {
        "users": run.users,
        "seconds": round(elapsed, 1),
        "questions": len(run.turns),
        "answered": len(done),
        "questions_per_s": len(done) / elapsed if elapsed else 0.0,
        "first_text_ms": summary([t.first_text_s * 1000 for t in done if t.first_text_s]),
        "full_answer_ms": summary([t.full_s * 1000 for t in done if t.full_s]),
        "stages_ms": {k: summary(v) for k, v in stages.items()},
        "page_load_ms": summary([s * 1000 for s in run.page_loads]),
        "lost_key_presses": sum(t.resent for t in run.turns),
        "page_open_errors": run.open_errors,
        "errors": errors,
        "server_tracebacks": server_log.count("Traceback"),
        "rss_mb": {
            "samples": [[round(t, 1), round(mb, 1)] for t, mb in run.rss],
            "first": rss[0] if rss else None,
            "max": max(rss, default=None),
            "middle_third_max": max(middle, default=None),
            "last_third_max": max(last, default=None),
            # plateau: the last third grows less than 5 % over the middle third's peak
            "plateau": bool(rss) and max(last) <= 1.05 * max(middle),
        },
        "upload": {**run.upload, "later_answers": upload_checks},
        "turns": [
            {
                "user": t.user,
                "at_s": round(t.started - run.turns[0].started, 2),
                "question": t.question,
                "first_text_ms": round(t.first_text_s * 1000) if t.first_text_s else None,
                "full_ms": round(t.full_s * 1000) if t.full_s else None,
                "error": t.error,
                "resent": t.resent,
            }
            for t in run.turns
        ],
    }


# --- 2. threads on the library ----------------------------------------------------------------

THREAD_QUESTIONS = [q for pair in CONVERSATIONS for q in pair[:1]] + [
    "What did Ada Lovelace's Note G describe?",
    "What is the capital of Mongolia?",  # refused: the turn ends before the model
]


def _answer_key(answer: Any) -> tuple:
    return (
        answer.text,
        answer.refused,
        tuple(s.passage_id for s in answer.sources),
        tuple(s.passage_id for s in answer.uncited),
        answer.error,
    )


def _nodes_key(nodes: list[Any]) -> tuple:
    return tuple((n.node.node_id, round(float(n.score), 5)) for n in nodes)


def concurrent_check(
    work: Callable[[str], tuple], questions: list[str], threads: int, seconds: float, rounds: int
) -> dict[str, Any]:
    """Each question once, alone; then `threads` threads asking them in shuffled orders until
    `rounds` rounds or `seconds` are done. Every concurrent result must equal the lone one."""
    expected = {q: work(q) for q in questions}
    mismatches: list[str] = []
    errors: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(rounds):
            order = questions[:]
            rng.shuffle(order)
            for q in order:
                if time.monotonic() > deadline:
                    return
                t0 = time.monotonic()
                try:
                    got = work(q)
                except Exception as exc:
                    with lock:
                        errors.append(f"{q}: {type(exc).__name__}: {exc}"[:300])
                    continue
                with lock:
                    latencies.append((time.monotonic() - t0) * 1000)
                    if got != expected[q]:
                        mismatches.append(q)

    t0 = time.monotonic()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - t0
    return {
        "threads": threads,
        "calls": len(latencies) + len(errors),
        "per_s": len(latencies) / elapsed if elapsed else 0.0,
        "latency_ms": summary(latencies),
        "errors": errors,
        "mismatches": sorted(set(mismatches)),
    }


def run_threads(args: argparse.Namespace, settings: Settings, llm_url: str) -> dict:
    from assistant.chat import Assistant
    from retrieval.retriever import MultiStageRetriever

    live = settings.model_copy(update={"openai_base_url": llm_url, "llm_model": args.llm_model})
    retriever = MultiStageRetriever.from_settings(live)
    try:
        bot = Assistant(live, retriever)
        loops = threading.local()

        def aretrieve(q: str) -> tuple:
            if not hasattr(loops, "loop"):
                loops.loop = asyncio.new_event_loop()
            return _nodes_key(loops.loop.run_until_complete(retriever.aretrieve(q)))

        return {
            "ask": concurrent_check(
                lambda q: _answer_key(bot.ask(q)),
                THREAD_QUESTIONS, args.threads, args.thread_seconds, args.thread_rounds,
            ),
            "aretrieve": concurrent_check(
                aretrieve, THREAD_QUESTIONS, args.threads, args.thread_seconds,
                args.thread_rounds,
            ),
        }  # fmt: skip
    finally:
        retriever.close()


# --- report ----------------------------------------------------------------------------------


def _print(report: dict) -> None:
    ui = report.get("ui")
    if ui:
        t = Table(title=f"{ui['users']} browser users, one msrag ui, {ui['seconds']} s")
        for col in ("metric", "p50", "p95"):
            t.add_column(col)
        t.add_row("questions/s", f"{ui['questions_per_s']:.2f}", "")
        t.add_row("answered / asked", f"{ui['answered']} / {ui['questions']}", "")
        for name, key in (
            ("first answer text", "first_text_ms"),
            ("full answer", "full_answer_ms"),
        ):
            t.add_row(f"{name} (ms)", f"{ui[key]['p50']:.0f}", f"{ui[key]['p95']:.0f}")
        for stage, s in ui["stages_ms"].items():
            t.add_row(f"  stage: {stage} (ms)", f"{s['p50']:.0f}", f"{s['p95']:.0f}")
        pl = ui["page_load_ms"]
        t.add_row("page load, new session (ms)", f"{pl['p50']:.0f}", f"{pl['p95']:.0f}")
        t.add_row("errors", str(len(ui["errors"])), "")
        rss = ui["rss_mb"]
        if rss["max"] is not None:
            t.add_row(
                "RSS MB first / middle max / last max",
                f"{rss['first']:.0f} / {rss['middle_third_max']:.0f} / {rss['last_third_max']:.0f}",
                "plateau" if rss["plateau"] else "CLIMBING",
            )
        up = ui["upload"]
        if up:
            later = up.get("later_answers", [])
            ok = sum(1 for c in later if c["cites_upload"] and c["states_fact"])
            t.add_row("upload during chat", f"{up.get('seconds', float('nan')):.1f} s", "")
            t.add_row("later answers citing it", f"{ok} / {len(later)}", "")
        console.print(t)
    threads = report.get("threads")
    if threads:
        t = Table(title="8 threads on the library, against one-at-a-time answers")
        for col in ("call", "calls", "per s", "p50 ms", "p95 ms", "errors", "mismatches"):
            t.add_column(col)
        for name, r in threads.items():
            t.add_row(
                name, str(r["calls"]), f"{r['per_s']:.1f}", f"{r['latency_ms']['p50']:.0f}",
                f"{r['latency_ms']['p95']:.0f}", str(len(r["errors"])), str(len(r["mismatches"])),
            )  # fmt: skip
        console.print(t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_model_options(ap)
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--upload-at", type=float, default=20.0, help="seconds in; negative: none")
    ap.add_argument("--llm-url", help="an OpenAI-compatible server (default: the scripted one)")
    ap.add_argument("--llm-model", default="scripted-demo")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--thread-seconds", type=float, default=60.0)
    ap.add_argument("--thread-rounds", type=int, default=3)
    ap.add_argument("--skip-ui", action="store_true")
    ap.add_argument("--skip-threads", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS / "load.json")
    args = ap.parse_args()
    if args.upload_at is not None and args.upload_at < 0:
        args.upload_at = None

    from tests.llm_server import ScriptedLLM
    from tests.regress.demo_llm import demo_reply

    folder = Path(tempfile.mkdtemp(prefix="msrag-load-"))
    # a shared machine's load changes every figure here: record it next to them
    report: dict[str, Any] = {"command": " ".join(sys.argv), "loadavg_start": os.getloadavg()}
    try:
        settings = settings_from(args, data_dir=folder / "data")
        _ingest_demo(settings)
        with ScriptedLLM(models=[args.llm_model], default=demo_reply) as scripted:
            llm_url = args.llm_url or scripted.url
            report["llm"] = args.llm_url or "scripted (tests/llm_server.py + demo_llm)"
            if not args.skip_ui:
                report["ui"] = run_ui(args, settings, llm_url, folder)
            if not args.skip_threads:
                report["threads"] = run_threads(args, settings, llm_url)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report["loadavg_end"] = os.getloadavg()
    report["cpus"] = os.cpu_count()
    write_report(args.out, report)
    _print(report)
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
