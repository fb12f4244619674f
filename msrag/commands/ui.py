"""The browser chat's command: `msrag ui` serves `ui/app.py` with Streamlit."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

import ui as ui_pages


def register(app: typer.Typer) -> None:
    """Add this layer's command to the root app."""
    app.command()(ui)


# --- ui ------------------------------------------------------------------------------------------
def ui(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8501,
    address: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
) -> None:
    """Start the Streamlit chat in the browser (the store is opened by the UI server).

    Streamlit replaces this process (same PID), so `kill PID`, Ctrl-C or a service manager's
    stop reach the server itself and free the port.
    """
    from msrag.console import load_settings, user_errors
    from teams.identity import check_bind

    # a bad setting is a sentence and exit code 2 here, not a broken page; and header sign-in
    # must not be reachable around the proxy
    with user_errors():
        check_bind(load_settings(), address)
    app_path = Path(ui_pages.__file__).resolve().parent / "app.py"
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path),
        "--server.address",
        address,
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
    ]
    sys.stdout.flush()
    sys.stderr.flush()
    # exec, not a child: a child would be left running (port taken) when only we get SIGTERM
    os.execv(sys.executable, cmd)
