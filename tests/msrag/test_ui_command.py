"""`msrag ui` as a service manager runs it: a real process, stopped by a signal, frees its port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from retrieval.ingest.offline import OfflineModels
from tests.ui.conftest import REPO, page_env

STARTUP_S = 90


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _healthy(port: int) -> bool:
    """Streamlit's own health check answers: the server has finished starting."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _bindable(port: int) -> bool:
    """A new server could listen there (SO_REUSEADDR, as servers do: our own health-check
    connections leave TIME_WAIT entries that are not an owner)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
        return True


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_msrag_ui_stops_the_server_and_frees_the_port(
    sig: signal.Signals, offline_model_dirs: OfflineModels, tmp_path: Path
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        **page_env(offline_model_dirs, tmp_path / "data"),
        "STREAMLIT_SERVER_HEADLESS": "true",  # no browser, no first-run e-mail prompt
        "PYTHONPATH": str(REPO),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "msrag", "ui", "--port", str(port)],
        cwd=tmp_path,  # no developer .env
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + STARTUP_S
        while not _healthy(port):
            assert process.poll() is None, process.communicate()[0].decode()
            assert time.monotonic() < deadline, f"nothing listens on {port} after {STARTUP_S} s"
            time.sleep(0.2)
        process.send_signal(sig)  # what `kill PID`, Ctrl-C or systemd's stop send: to us only
        output = process.communicate(timeout=30)[0].decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode in (0, -sig, 128 + sig), output
    assert not _listening(port) and _bindable(port), f"port {port} still taken:\n{output}"
