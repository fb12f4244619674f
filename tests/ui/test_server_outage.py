"""The Qdrant server goes away under a running `msrag ui`, and comes back: a real browser sees it.

No Qdrant server runs on this machine, so the server is `tests/qdrant_gateway.py`: Qdrant's REST
protocol over qdrant-client's local engine, in a process of its own that the test `kill -9`s and
starts again on the same port with the same data. The demo documents go in with
`msrag ingest` and `QDRANT_URL`; `msrag ui` serves the page with the shipped retry settings.

While the server is away every store call is retried (`MSRAG_QDRANT_RETRIES`, backoff from
`MSRAG_QDRANT_BACKOFF_S`), then the page says so in one sentence — no traceback, no exception
box, no API key — and keeps taking questions; once the server is back the next question is
answered with citations. The same holds for a page started while the server is down.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient

from msrag.settings import Settings
from retrieval.ingest.offline import OfflineModels
from tests.conftest import DEMO_DOCS
from tests.qdrant_gateway import Gateway
from tests.ui.conftest import REPO, page_env
from tests.ui.page_server import (
    ARTIFACTS,
    CHROMIUM,
    chromium,
    clean_env,
    serve_page,
    wait_idle,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed"),
]
KEY = "qdrant-key-0utage-7f3a9c"  # distinctive: it must appear nowhere on the page
BALLOON = "How high did the Zephyr-9 balloon reach?"
ADA = "When was Ada Lovelace born?"
TEA = "How long should green tea steep?"
DEFAULTS = Settings.model_construct()  # the shipped retry settings, which this page runs with
# Waiting between the attempts of one store call: the backoff doubles, at most 8 s a wait
BACKOFF_S = sum(min(DEFAULTS.qdrant_backoff_s * 2**i, 8.0) for i in range(DEFAULTS.qdrant_retries))
# On top of that wait: redrawing the page and encoding the question on a busy 2-core machine
# (refused connections fail at once: the gateway's port is closed, nothing hangs).
SLACK_S = 20.0


@pytest.fixture(scope="module")
def qdrant_data(
    offline_model_dirs: OfflineModels, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, int]:
    """A gateway data folder and port holding the demo documents, put there by `msrag ingest`
    with `QDRANT_URL` (the gateway is stopped again; each test starts its own on that port)."""
    root = tmp_path_factory.mktemp("outage")
    gateway = Gateway(root / "qdrant", api_key=KEY)
    with gateway:
        env = _env(offline_model_dirs, root / "data", gateway)
        done = subprocess.run(
            [sys.executable, "-m", "msrag", "ingest", str(DEMO_DOCS)],
            cwd=root,  # no developer .env
            env=clean_env(env, {"PYTHONPATH": str(REPO)}),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        client = QdrantClient(url=gateway.url, api_key=KEY, check_compatibility=False)
        assert client.count("msrag").count >= len(
            list(DEMO_DOCS.iterdir())
        )  # a chunk a file at least
        client.close()
    return root / "qdrant", gateway.port


def _env(models: OfflineModels, data: Path, gateway: Gateway) -> dict[str, str]:
    return {
        **page_env(models, data),
        "QDRANT_URL": gateway.url,
        "QDRANT_API_KEY": KEY,
    }


@pytest.fixture
def gateway(qdrant_data: tuple[Path, int]) -> Iterator[Gateway]:
    """The gateway over the ingested data, not started (each test decides when)."""
    path, port = qdrant_data
    gateway = Gateway(path, port=port, api_key=KEY)
    yield gateway
    gateway.stop()


def _ask(page: Any, question: str, nth: int) -> tuple[Any, float]:
    """Ask; wait for the `nth` reply (1-based) and the end of the run. Returns the reply and the
    seconds until its answer or its error was on the page."""
    box = page.get_by_test_id("stChatInputTextArea")
    box.wait_for(timeout=90_000)
    wait_idle(page)
    started = time.monotonic()
    box.fill(question)
    box.press("Enter")
    reply = page.locator("[data-testid=stChatMessage]").nth(2 * nth - 1)
    reply.locator(".msrag-answer, [data-testid=stAlertContentError]").first.wait_for(
        timeout=120_000
    )
    shown = time.monotonic() - started
    wait_idle(page)
    return reply, shown


def _assert_answered(reply: Any, expected: str) -> None:
    answer = reply.locator(".msrag-answer").first
    assert expected in answer.inner_text()
    assert answer.locator(".msrag-cite a").count() >= 1  # cited, with a link to its source
    assert reply.locator(".msrag-source-head").count() >= 1


def _assert_one_sentence(page: Any, reply: Any, gateway: Gateway) -> str:
    """The reply is one plain sentence about the server; nothing else leaks onto the page."""
    error = reply.get_by_test_id("stAlertContentError")
    said: str = error.get_by_test_id("stMarkdownContainer").inner_text().strip()  # not the icon
    assert said.startswith(f"Qdrant at {gateway.url} is unreachable"), said
    assert "unset QDRANT_URL to use the embedded store" in said and "\n" not in said
    assert said.count(". ") == 0 and said.endswith(".")  # one sentence
    body = page.locator("body").inner_text()
    boxes = page.get_by_test_id("stException")
    assert boxes.count() == 0, boxes.all_inner_texts()  # no exception box
    assert "Traceback" not in body and "Exception" not in body and KEY not in body
    assert page.locator("html").inner_html().count(KEY) == 0
    # still interactive: the box takes the next question
    assert page.get_by_test_id("stChatInputTextArea").is_enabled()
    return said


def test_the_server_goes_away_and_comes_back_under_a_running_page(
    offline_model_dirs: OfflineModels, qdrant_data: tuple[Path, int], gateway: Gateway,
    tmp_path: Path,
) -> None:  # fmt: skip
    gateway.start()
    env = _env(offline_model_dirs, tmp_path / "data", gateway)
    with serve_page(env, tmp_path, via_cli=True) as served, chromium(tmp_path / "p") as browser:
        page = browser.pages[0] if browser.pages else browser.new_page()
        page.goto(served.url)

        reply, _ = _ask(page, BALLOON, 1)
        _assert_answered(reply, "38.2 kilometres")

        gateway.kill()  # the server vanishes: its port is closed, pooled connections drop
        reply, shown = _ask(page, ADA, 2)
        _assert_one_sentence(page, reply, gateway)
        # the call was retried for the whole backoff, and gave up within a bounded time
        assert BACKOFF_S <= shown <= BACKOFF_S + SLACK_S, (shown, BACKOFF_S)
        # and only that call waited: the page's other store calls in the same run failed fast
        # (the client counts the server as down until a call succeeds; 9 retries before)
        assert served.log.read_text().count("; retry ") == DEFAULTS.qdrant_retries
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "ui_qdrant_outage.png"), full_page=True)

        gateway.start()  # back on the same port, with the same data
        reply, _ = _ask(page, BALLOON, 3)
        _assert_answered(reply, "38.2 kilometres")
    assert KEY not in served.log.read_text()


def test_a_page_started_while_the_server_is_down_works_once_it_is_up(
    offline_model_dirs: OfflineModels, qdrant_data: tuple[Path, int], gateway: Gateway,
    tmp_path: Path,
) -> None:  # fmt: skip
    env = _env(offline_model_dirs, tmp_path / "data", gateway)
    with serve_page(env, tmp_path, via_cli=True) as served, chromium(tmp_path / "p") as browser:
        page = browser.pages[0] if browser.pages else browser.new_page()
        page.goto(served.url)
        reply, shown = _ask(page, ADA, 1)
        said = _assert_one_sentence(page, reply, gateway)
        # the page says it at the top too, and the sidebar does not pretend a store is open
        assert page.get_by_text(said).count() >= 2
        assert page.get_by_text("The store is not open").count() == 1
        # the run tried to open the store again, for the whole backoff (the models stay loaded)
        assert BACKOFF_S <= shown <= BACKOFF_S + SLACK_S, (shown, BACKOFF_S)

        gateway.start()
        reply, _ = _ask(page, BALLOON, 2)
        _assert_answered(reply, "38.2 kilometres")
        assert page.get_by_test_id("stAlertContentError").count() == 1  # only the old reply's
    assert KEY not in served.log.read_text()
