"""Every `msrag` command against the one exit-code table (docs/reference/exit-codes.md):

0 ok · 1 partial (some files failed, a regression check failed, an answer cut short) ·
2 usage or configuration error · 3 an upstream service failed (LLM, Qdrant server, store).

Each command runs in-process (typer's runner) on real models, a real store and, for the LLM,
a real HTTP server that is scripted; "upstream failed" is a closed port, as on a real machine.
Each test works on its own copy of a project with the demo documents ingested, so what one test
changes (ingests, deletes, grants) no other test sees, whatever the order.
"""

from __future__ import annotations

import os
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
from tests.retrieval.ingest.helpers import write_beir

pytestmark = pytest.mark.slow

runner = CliRunner()
BAD_SETTING = {"MSRAG_TOP_K": "0"}  # a configuration error: pydantic rejects it
ADA = "docs/ada_lovelace.md"  # a demo document, by its source


def _write_env(root: Path, models: OfflineModels) -> None:
    """The project's `.env`: the offline models, and a data directory of its own."""
    lines = [*models.settings_lines(), f"MSRAG_DATA_DIR={root / 'data'}"]
    (root / ".env").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def pristine(offline_model_dirs: OfflineModels, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder as a user has it, the demo ingested: built once (loading the models is
    what costs), never changed; each test works on a copy (`project`)."""
    root = tmp_path_factory.mktemp("pristine")
    shutil.copytree(DEMO_DOCS, root / "docs")
    _write_env(root, offline_model_dirs)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        # module scope: built before tests/conftest.py's per-test isolation of the environment
        for name in list(os.environ):
            if name.startswith(("MSRAG_", "QDRANT_", "OPENAI_")) and "TEST_MODELS" not in name:
                mp.delenv(name)
        result = runner.invoke(app, ["ingest", "docs"])
    assert result.exit_code == EXIT_OK, result.output
    return root


@pytest.fixture(autouse=True)
def project(
    pristine: Path,
    offline_model_dirs: OfflineModels,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """This test's own copy of the pristine project (store included), as the current directory."""
    root = tmp_path / "project"
    shutil.copytree(pristine, root)
    _write_env(root, offline_model_dirs)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def closed_url() -> Iterator[str]:
    """http://127.0.0.1:PORT where nothing listens (connection refused). The port stays bound,
    never listening, until the test ends: no other process can take it and answer meanwhile."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


@pytest.fixture
def no_qdrant(closed_url: str) -> dict[str, str]:
    """The Qdrant server is configured and down."""
    return {"QDRANT_URL": closed_url}


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
    def test_ingest(self, project: Path, no_qdrant: dict[str, str]) -> None:
        (project / "empty.md").write_text("")
        assert run(["ingest", ADA]) == EXIT_OK
        assert run(["ingest", ADA, "empty.md"]) == EXIT_PARTIAL
        assert run(["ingest", "docs"], env=BAD_SETTING) == EXIT_USAGE
        assert run(["ingest", "docs"], env=no_qdrant) == EXIT_UPSTREAM

    def test_search(self, no_qdrant: dict[str, str]) -> None:
        assert run(["search", "When was Ada Lovelace born?"]) == EXIT_OK
        for question in ("", "   ", "x" * 4001):
            assert run(["search", question]) == EXIT_USAGE
        assert run(["search", "x", "--mode", "nope"]) == EXIT_USAGE
        assert run(["search", "x", "--top-k", "0"]) == EXIT_USAGE  # a usage error from typer
        assert run(["search", "x"], env=no_qdrant) == EXIT_UPSTREAM

    def test_status_and_reindex(self, no_qdrant: dict[str, str]) -> None:
        assert run(["status"]) == EXIT_OK
        assert run(["status"], env=BAD_SETTING) == EXIT_USAGE
        assert run(["status"], env=no_qdrant) == EXIT_UPSTREAM
        assert run(["reindex"]) == EXIT_OK
        assert run(["reindex"], env=no_qdrant) == EXIT_UPSTREAM

    def test_eval(self, project: Path, no_qdrant: dict[str, str]) -> None:
        data = tiny_beir(project)
        assert run(["eval", str(data), "-m", "bm25"]) == EXIT_OK
        assert run(["eval", str(project / "no-such-dataset")]) == EXIT_USAGE
        assert run(["eval", str(data), "-m", "bm25"], env=no_qdrant) == EXIT_UPSTREAM

    def test_models(self, offline_model_dirs: OfflineModels) -> None:
        root = str(offline_model_dirs.root)
        assert run(["models", "offline", root]) == EXIT_OK
        assert run(["models", "offline", root], env=BAD_SETTING) == EXIT_USAGE
        assert run(["models", "nope"]) == EXIT_USAGE


class TestDocumentCommands:
    def test_list_and_show(self, no_qdrant: dict[str, str]) -> None:
        assert run(["docs", "list"]) == EXIT_OK
        assert run(["docs", "list", "--sort", "nope"]) == EXIT_USAGE
        assert run(["docs", "list"], env=BAD_SETTING) == EXIT_USAGE
        assert run(["docs", "list"], env=no_qdrant) == EXIT_UPSTREAM
        assert run(["docs", "show", ADA]) == EXIT_OK
        assert run(["docs", "show", "docs/no_such.md"]) == EXIT_USAGE  # no stored document
        assert run(["docs", "show", ADA], env=no_qdrant) == EXIT_UPSTREAM

    def test_reingest_and_delete(self, project: Path, no_qdrant: dict[str, str]) -> None:
        assert run(["docs", "reingest", ADA]) == EXIT_OK  # unchanged
        assert run(["docs", "reingest", "docs/no_such.md"]) == EXIT_USAGE
        assert run(["docs", "delete", ADA], stdin="n\n") == EXIT_PARTIAL  # declined: kept
        assert run(["docs", "delete", ADA, "--yes"], env=no_qdrant) == EXIT_UPSTREAM
        assert run(["docs", "delete", ADA, "--yes"]) == EXIT_OK
        assert run(["docs", "delete", ADA, "--yes"]) == EXIT_USAGE  # gone
        tea = "docs/green_tea.html"
        (project / tea).write_text("")
        assert run(["docs", "reingest", tea]) == EXIT_PARTIAL  # an empty file: not stored
        (project / tea).unlink()
        assert run(["docs", "reingest", tea]) == EXIT_USAGE  # the file is gone

    def test_grant_and_revoke(self, no_qdrant: dict[str, str]) -> None:
        assert run(["docs", "grant", ADA, "--groups", "hr"]) == EXIT_OK
        # its last group: making it public needs --public (a usage error without it)
        assert run(["docs", "revoke", ADA, "--groups", "hr"]) == EXIT_USAGE
        assert run(["docs", "revoke", ADA, "--groups", "hr", "--public"]) == EXIT_OK
        assert run(["docs", "grant", "docs/no_such.md", "--groups", "hr"]) == EXIT_USAGE
        assert run(["docs", "grant", ADA, "--groups", "h/r"]) == EXIT_USAGE  # not a group name
        assert run(["docs", "grant", ADA, "--groups", "hr"], env=BAD_SETTING) == EXIT_USAGE
        assert run(["docs", "revoke", ADA, "--groups", "hr"], env=no_qdrant) == EXIT_UPSTREAM


class TestTransferCommands:
    def test_export(self, closed_url: str, no_qdrant: dict[str, str]) -> None:
        assert run(["export", "--to", "backup.msrag.jsonl"]) == EXIT_OK
        assert run(["export", "--to", "backup.msrag.jsonl"]) == EXIT_USAGE  # the file exists
        assert run(["export", "--to", "other.jsonl"], env=BAD_SETTING) == EXIT_USAGE
        assert run(["export", "--to", closed_url]) == EXIT_UPSTREAM  # the target server is down
        assert run(["export", "--to", "other.jsonl"], env=no_qdrant) == EXIT_UPSTREAM  # source
        empty = {"MSRAG_DATA_DIR": "empty"}
        assert run(["export", "--to", "other.jsonl"], env=empty) == EXIT_USAGE  # nothing there

    def test_import(self, project: Path, closed_url: str) -> None:
        assert run(["export", "--to", "backup.msrag.jsonl"]) == EXIT_OK
        laptop = {"MSRAG_DATA_DIR": str(project / "laptop")}
        assert run(["import", "backup.msrag.jsonl"], env=laptop) == EXIT_OK
        assert run(["import", "backup.msrag.jsonl"], env=laptop) == EXIT_USAGE  # already there
        (project / "notes.txt").write_text("hello\n")
        assert run(["import", "notes.txt"], env=laptop) == EXIT_USAGE  # not an export
        assert run(["import", "backup.msrag.jsonl"], env=BAD_SETTING) == EXIT_USAGE
        assert run(["import", closed_url], env=laptop) == EXIT_UPSTREAM  # the source is down


class TestAssistantCommands:
    def test_ask(self, llm: ScriptedLLM, closed_url: str, no_qdrant: dict[str, str]) -> None:
        assert run(["ask", "When was Ada Lovelace born?"]) == EXIT_OK  # extractive
        assert run(["ask", ""]) == EXIT_USAGE
        llm.script(Reply("Ada Lovelace was born in 1815 [1]."))
        assert run(["ask", "When was Ada Lovelace born?"], env=llm_env(llm.url)) == EXIT_OK
        llm.script(Break("Ada Lovelace was born on 10 December 1815 [1].", after=3))
        cut = run(["ask", "When was Ada Lovelace born?"], env=llm_env(llm.url))
        assert cut == EXIT_PARTIAL  # an answer cut short
        down = llm_env(f"{closed_url}/v1")
        assert run(["ask", "When was Ada Lovelace born?"], env=down) == EXIT_UPSTREAM
        assert run(["ask", "When?"], env=no_qdrant) == EXIT_UPSTREAM

    def test_chat(self, no_qdrant: dict[str, str]) -> None:
        assert run(["chat"], stdin="When was Ada Lovelace born?\n\n") == EXIT_OK
        assert run(["chat"], env=BAD_SETTING, stdin="\n") == EXIT_USAGE
        assert run(["chat"], env=no_qdrant, stdin="\n") == EXIT_UPSTREAM


class TestOtherCommands:
    def test_regress(self, project: Path, closed_url: str) -> None:
        suite = project / "regress"
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
        assert run(["regress"]) == EXIT_USAGE  # no case file
        down = llm_env(f"{closed_url}/v1")
        assert run(["regress", cases, "-c", "ada-born", "--llm", "live"], env=down) == EXIT_UPSTREAM

    def test_ui_refuses_a_bad_configuration_before_starting(self) -> None:
        # the running server: tests/msrag/test_ui_command.py
        assert run(["ui"], env=BAD_SETTING) == EXIT_USAGE

    def test_unknown_command_and_option(self) -> None:
        assert run(["nope"]) == EXIT_USAGE
        assert run(["status", "--nope"]) == EXIT_USAGE
