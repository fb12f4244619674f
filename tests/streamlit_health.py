"""Waiting for a Streamlit server we started: the browser tests and the benches share it."""

from __future__ import annotations

import subprocess
import time
import urllib.request


def wait_until_serving(url: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Return once `url`'s health endpoint answers "ok"; `RuntimeError` if `proc` exits first
    or `timeout_s` passes (the caller adds the server's log to its own error)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().decode() == "ok":
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no answer from {url} within {timeout_s:.0f} s")
        time.sleep(0.3)
