"""The page served for real, for the browser tests: started, awaited and stopped in one place.

`serve_page` runs the app as a user does (`streamlit run ui/app.py`, or `msrag ui` with
`via_cli=True`) on a free local port from a scratch working directory (no developer `.env`),
with the developer's own MSRAG_/OPENAI_/QDRANT_ variables removed, and waits for Streamlit's
health check. At the end it stops the server by its pid and fails if a traceback reached the log.

    with serve_page(page_env(models, data), tmp_path, {"QDRANT_URL": url}) as served:
        page.goto(served.url)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.streamlit_health import wait_until_serving
from tests.ui.conftest import APP, REPO

CHROMIUM = Path("/usr/lib/chromium/chromium")
# Debian's Chromium, headless; without the background-networking flags it keeps calling hosts
# this network refuses (../shared/notes/ui-testing.md).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "tests" / "artifacts"
STARTUP_S = 60
# Streamlit's options as environment variables, so `streamlit run` and `msrag ui` get the same
STREAMLIT_ENV = {
    "STREAMLIT_SERVER_HEADLESS": "true",  # no browser, no first-run e-mail prompt
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",  # else the page calls a metrics host
    "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
    "STREAMLIT_CLIENT_TOOLBAR_MODE": "viewer",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_idle(page: Any) -> None:  # a playwright Page
    """Until Streamlit has finished the script run (its 'Running…/Stop' widget is gone)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=60_000
    )
    time.sleep(0.5)


def clean_env(*parts: dict[str, str]) -> dict[str, str]:
    """This process's environment without a developer's MSRAG_/OPENAI_/QDRANT_ variables, then
    `parts` on top (for any `msrag` child process of a test)."""
    leaky = ("MSRAG_", "OPENAI_", "QDRANT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(leaky)}
    for part in parts:
        env.update(part)
    return env


@contextmanager
def chromium(profile: Path, width: int = 1280, height: int = 1000) -> Iterator[Any]:
    """A headless Chromium context with a fresh profile (yields a playwright BrowserContext)."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - browser tests only

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport={"width": width, "height": height},
        )
        try:
            yield context
        finally:
            context.close()


@dataclass
class ServedPage:
    url: str
    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    cwd: Path
    log: Path


@contextmanager
def serve_page(
    page_env: dict[str, str],
    tmp_path: Path,
    extra_env: dict[str, str] | None = None,
    *,
    via_cli: bool = False,
) -> Iterator[ServedPage]:
    """The app on a free port with `page_env` (see `tests/ui/conftest.page_env`) and
    `extra_env`; `via_cli` starts it with `msrag ui` instead of `streamlit run`."""
    port = free_port()
    workdir = tmp_path / "cwd"  # no developer .env is read from here
    workdir.mkdir(exist_ok=True)
    env = clean_env(page_env, STREAMLIT_ENV, extra_env or {})
    if via_cli:
        env["PYTHONPATH"] = str(REPO)
        command = [sys.executable, "-m", "msrag", "ui", "--port", str(port)]
    else:
        command = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.address"]
        command += ["127.0.0.1", "--server.port", str(port)]
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    served = ServedPage(url, proc, env, workdir, log_path)
    try:
        try:
            wait_until_serving(url, proc, STARTUP_S)
        except RuntimeError as exc:
            pytest.fail(f"streamlit did not start ({exc}):\n{log_path.read_text()}")
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    server_log = log_path.read_text()  # checked when the test passed (else it would hide why)
    assert "Traceback" not in server_log, server_log
