"""The real thing: `streamlit run ui/app.py` driven by Debian's Chromium through Playwright.

Asks about the demo documents, follows a citation link, opens the alignment view, uploads a
file, checks the XSS test page renders inert, and leaves a screenshot in tests/artifacts/.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.conftest import APP, REPO, page_env

CHROMIUM = Path("/usr/lib/chromium/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = REPO / "tests" / "artifacts"
QUESTION = "How high did the Zephyr-9 balloon reach?"

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(offline_model_dirs, page_data: Path, tmp_path: Path) -> Iterator[str]:
    """The page served on a free local port, over a store pre-ingested with the demo docs
    (ingested before the server starts: the embedded store admits one process)."""
    port = _free_port()
    workdir = tmp_path / "cwd"  # no developer .env is read from here
    workdir.mkdir()
    leaky = ("MSRAG_", "OPENAI_", "QDRANT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(leaky)}
    env.update(page_env(offline_model_dirs, page_data))
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port),
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
         "--client.toolbarMode", "viewer"],
        cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().decode() == "ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start:\n{(tmp_path / 'server.log').read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        server_log = (tmp_path / "server.log").read_text()
        assert "Traceback" not in server_log, server_log


def _wait_idle(page) -> None:  # a playwright Page
    """Until Streamlit has finished the script run (its 'Running…/Stop' widget is gone)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=60_000
    )
    time.sleep(0.5)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed")
def test_chat_in_a_real_browser(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright  # only this test needs it

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    upload = tmp_path / "zephyr_crew.md"
    upload.write_text("# Zephyr-9 crew\n\nThe Zephyr-9 ground crew was led by Ingrid Solberg.\n")
    dialogs: list[str] = []
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS,
            headless=True, viewport={"width": 1280, "height": 1000},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(server)
            box = page.get_by_test_id("stChatInputTextArea")
            box.wait_for(timeout=90_000)
            _wait_idle(page)
            box.fill(QUESTION)
            box.press("Enter")

            # the streamed answer and its sources
            page.locator("[data-testid=stChatMessage]").nth(1).wait_for(timeout=60_000)
            page.locator(".msrag-source-head").first.wait_for(timeout=60_000)
            _wait_idle(page)
            answer = page.locator(".msrag-answer").first
            assert "38.2 kilometres" in answer.inner_text()
            head = page.locator(".msrag-source-head").first.inner_text()
            assert head.startswith("[1]") and "Markup Safety Test Page" in head

            # a citation link leads to its source, in the page
            link = answer.locator(".msrag-cite a").first
            href = link.get_attribute("href")
            assert href and href.startswith("#msrag-t1-s")
            assert "security_test_page.html" in (link.get_attribute("title") or "")
            link.click()
            page.wait_for_function(f"() => location.hash === '{href}'", timeout=5_000)
            assert len(context.pages) == 1  # same tab, no new window
            top, bottom, height = page.locator(href).evaluate(
                "e => { const r = e.getBoundingClientRect(); "
                "return [r.top, r.bottom, innerHeight] }"
            )
            assert top >= 0 and bottom <= height

            # the XSS page is shown as text and nothing in it runs or links
            passage = page.locator(".msrag-passage", has_text="Literal payload").first
            seen = passage.inner_text()
            assert "<script>alert(1)</script>" in seen
            assert "<img src=x onerror=alert(1)>" in seen
            assert "[click](javascript:alert(1))" in seen
            assert passage.locator("script, img, a").count() == 0
            assert page.locator("a[href^='javascript' i]").count() == 0
            assert page.locator("img[src='x']").count() == 0
            scripts = page.locator("script").evaluate_all("els => els.map(e => e.textContent)")
            assert not any("alert(" in s or "owned" in s for s in scripts)
            assert page.title() != "owned"

            # "Why this passage" draws the alignment over the cited passage
            page.get_by_text("Why this passage").first.click()
            page.locator(".msrag-heat").first.wait_for(timeout=30_000)
            _wait_idle(page)
            assert page.locator(".msrag-heat").count() >= 3

            # upload a file: progress, a line per file, and the store grows
            picker = page.locator("[data-testid=stFileUploader] input[type=file]")
            picker.set_input_files(str(upload))
            page.get_by_role("button", name="Add to the store").click()
            page.get_by_text("zephyr_crew.md — ingested").wait_for(timeout=60_000)
            _wait_idle(page)
            documents = page.locator("[data-testid=stMetric]", has_text="Documents")
            assert documents.locator("[data-testid=stMetricValue]").inner_text() == "9"

            # the screenshot a reviewer looks at: the answer and its sources in one tall page
            page.set_viewport_size({"width": 1280, "height": 2400})
            page.locator(href).scroll_into_view_if_needed()
            time.sleep(0.8)
            page.screenshot(path=str(ARTIFACTS / "ui_chat.png"), full_page=True)
            assert not dialogs, dialogs
        finally:
            context.close()
