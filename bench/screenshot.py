"""A screenshot of the browser chat answering over a store (for the README), via Playwright.

Starts `streamlit run ui/app.py` on a free local port over the given data dir and collection
(offline models, no LLM: extractive answers), asks one question in Debian's Chromium, waits for
the answer and its sources, and saves a PNG.

    python -m bench.screenshot --data ~/.cache/msrag/bench-stores/pydocs --collection pydocs \\
        --question "How do I create a virtual environment?" --output bench/results/pydocs-chat.png
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import DEFAULT_MODELS_DIR
from retrieval.ingest.offline import assemble_offline_models
from tests.streamlit_health import wait_until_serving

CHROMIUM = Path("/usr/lib/chromium/chromium")
APP = Path(__file__).resolve().parent.parent / "ui" / "app.py"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--collection", default="msrag")
    ap.add_argument("--question", required=True)
    ap.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR)
    ap.add_argument("--output", type=Path, default=Path("bench/results/chat.png"))
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only this bench needs it

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MSRAG_", "OPENAI_"))}
    models = assemble_offline_models(args.models_dir).settings_values()
    env |= {f"MSRAG_{k.upper()}": str(v) for k, v in models.items()}
    env |= {"MSRAG_DATA_DIR": str(args.data), "MSRAG_COLLECTION": args.collection}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port),
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
         "--client.toolbarMode", "viewer"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_serving(url, server, 180)
        except RuntimeError as exc:
            raise SystemExit(f"streamlit did not start: {exc}") from None
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.goto(url)
            box = page.get_by_test_id("stChatInputTextArea")
            box.wait_for(timeout=240_000)
            box.fill(args.question)
            box.press("Enter")
            page.locator(".msrag-source-head").first.wait_for(timeout=240_000)
            page.wait_for_function(
                "() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=240_000
            )
            # The page scrolls to its end; the answer and its first sources are the point.
            time.sleep(2.0)
            page.mouse.move(800, 400)
            for _ in range(3):  # the chat keeps its view pinned to the end; wheel back up
                page.mouse.wheel(0, -20_000)
                time.sleep(0.5)
            args.output.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.output), full_page=False)
            browser.close()
        print(f"Wrote {args.output}")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
