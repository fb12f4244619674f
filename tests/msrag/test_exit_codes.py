"""Every `msrag` command against the one exit-code table (README "Exit codes"):

0 ok · 1 partial (some files failed, a regression check failed, an answer cut short) ·
2 usage or configuration error · 3 an upstream service failed (LLM, Qdrant server, store).

Each command runs in-process (typer's runner) on real models, a real store and, for the LLM,
a real HTTP server that is scripted; "upstream failed" is a closed port, as on a real machine.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from msrag.cli import app
from retrieval.errors import EXIT_OK, EXIT_PARTIAL, EXIT_UPSTREAM, EXIT_USAGE
from retrieval.ingest.offline import OfflineModels
from tests.conftest import DEMO_DOCS, REPO
from tests.llm_server import Break, Reply, ScriptedLLM
from tests.retrieval.ingest.test_evaluate import write_beir

pytestmark = pytest.mark.slow

runner = CliRunner()
BAD_SETTING = {"MSRAG_TOP_K": "0"}  # a configuration error: pydantic rejects it


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NO_QDRANT = {"QDRANT_URL": f"http://127.0.0.1:{_closed_port()}"}


@pytest.fixture(scope="module")
def project(offline_model_dirs: OfflineModels, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder as a user has it: `.env` with the offline models, the demo ingested."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(DEMO_DOCS, root / "docs")
    (root / ".env").write_text(
        "\n".join([*offline_model_dirs.settings_lines(), f"MSRAG_DATA_DIR={root / 'data'}"]) + "\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        result = runner.invoke(app, ["ingest", "docs"])
    assert result.exit_code == EXIT_OK, result.output
    return root


@pytest.fixture(autouse=True)
def in_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(project)
    for name in ("QDRANT_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "MSRAG_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    return project


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM(models=("test-model",)) as server:
        yield server


def run(args: list[str], env: dict[str, str] | None = None, stdin: str | None = None) -> int:
    result = runner.invoke(app, args, env=env, input=stdin)
    assert "Traceback" not in result.output, result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code


def llm_env(url: str) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": url,
        "MSRAG_LLM_MODEL": "test-model",
        "MSRAG_LLM_MAX_RETRIES": "0",
        "MSRAG_LLM_TIMEOUT": "5",
    }


def tiny_beir(root: Path) -> Path:
    return write_beir(
        root / "tiny",
        {
            "d1": ("Lighthouses", "A lighthouse guides ships with a light."),
            "d2": ("Bread", "Sourdough bread rises with wild yeast."),
        },
        {"q1": "what guides ships at night"},
        [("q1", "d1", 1)],
    )


class TestRetrievalCommands:
    def test_ingest(self, in_project: Path) -> None:
        (in_project / "empty.md").write_text("")
        assert run(["ingest", "docs/ada_lovelace.md"]) == EXIT_OK
        assert run(["ingest", "docs/ada_lovelace.md", "empty.md"]) == EXIT_PARTIAL
        assert run(["ingest", "docs"], env=BAD_SETTING) == EXIT_USAGE
        assert run(["ingest", "docs"], env=NO_QDRANT) == EXIT_UPSTREAM

    def test_search(self) -> None:
        assert run(["search", "When was Ada Lovelace born?"]) == EXIT_OK
        for question in ("", "   ", "x" * 4001):
            assert run(["search", question]) == EXIT_USAGE
        assert run(["search", "x", "--mode", "nope"]) == EXIT_USAGE
        assert run(["search", "x", "--top-k", "0"]) == EXIT_USAGE  # a usage error from typer
        assert run(["search", "x"], env=NO_QDRANT) == EXIT_UPSTREAM

    def test_status_and_reindex(self) -> None:
        assert run(["status"]) == EXIT_OK
        assert run(["status"], env=BAD_SETTING) == EXIT_USAGE
        assert run(["status"], env=NO_QDRANT) == EXIT_UPSTREAM
        assert run(["reindex"]) == EXIT_OK
        assert run(["reindex"], env=NO_QDRANT) == EXIT_UPSTREAM

    def test_eval(self, in_project: Path) -> None:
        data = tiny_beir(in_project)
        assert run(["eval", str(data), "-m", "bm25"]) == EXIT_OK
        assert run(["eval", str(in_project / "no-such-dataset")]) == EXIT_USAGE
        assert run(["eval", str(data), "-m", "bm25"], env=NO_QDRANT) == EXIT_UPSTREAM

    def test_models(self, offline_model_dirs: OfflineModels) -> None:
        root = str(offline_model_dirs.root)
        assert run(["models", "offline", root]) == EXIT_OK
        assert run(["models", "offline", root], env=BAD_SETTING) == EXIT_USAGE
        assert run(["models", "nope"]) == EXIT_USAGE


class TestAssistantCommands:
    def test_ask(self, llm: ScriptedLLM) -> None:
        assert run(["ask", "When was Ada Lovelace born?"]) == EXIT_OK  # extractive
        assert run(["ask", ""]) == EXIT_USAGE
        llm.script(Reply("Ada Lovelace was born in 1815 [1]."))
        assert run(["ask", "When was Ada Lovelace born?"], env=llm_env(llm.url)) == EXIT_OK
        llm.script(Break("Ada Lovelace was born on 10 December 1815 [1].", after=3))
        cut = run(["ask", "When was Ada Lovelace born?"], env=llm_env(llm.url))
        assert cut == EXIT_PARTIAL  # an answer cut short
        down = llm_env(f"http://127.0.0.1:{_closed_port()}/v1")
        assert run(["ask", "When was Ada Lovelace born?"], env=down) == EXIT_UPSTREAM
        assert run(["ask", "When?"], env=NO_QDRANT) == EXIT_UPSTREAM

    def test_chat(self) -> None:
        assert run(["chat"], stdin="When was Ada Lovelace born?\n\n") == EXIT_OK
        assert run(["chat"], env=BAD_SETTING, stdin="\n") == EXIT_USAGE
        assert run(["chat"], env=NO_QDRANT, stdin="\n") == EXIT_UPSTREAM


class TestOtherCommands:
    def test_regress(self, in_project: Path) -> None:
        suite = in_project / "regress"
        if not suite.exists():
            shutil.copytree(REPO / "examples" / "regress", suite)
        cases = str(suite / "cases.yaml")
        assert run(["regress", cases, "-c", "ada-born"]) == EXIT_OK
        failing = suite / "failing.yaml"
        failing.write_text(
            (suite / "cases.yaml")
            .read_text()
            .replace('must_contain: ["1815"]', 'must_contain: ["1816"]')
        )
        assert run(["regress", str(failing), "-c", "ada-born", "--llm", "off"]) == EXIT_PARTIAL
        assert run(["regress", str(suite / "missing.yaml")]) == EXIT_USAGE
        down = llm_env(f"http://127.0.0.1:{_closed_port()}/v1")
        assert run(["regress", cases, "-c", "ada-born", "--llm", "live"], env=down) == EXIT_UPSTREAM

    def test_ui_refuses_a_bad_configuration_before_starting(self) -> None:
        assert (
            run(["ui"], env=BAD_SETTING) == EXIT_USAGE
        )  # the running server: tests/ui/test_cli.py

    def test_unknown_command_and_option(self) -> None:
        assert run(["nope"]) == EXIT_USAGE
        assert run(["status", "--nope"]) == EXIT_USAGE
