"""API keys never leave the process: not in any command's output, log line, page, returned
prompt, cassette, golden or JUnit report — also when a server fails and echoes them back.

Two distinctive keys are set the way a user sets them (environment variables), every product
surface runs for real (the `msrag` commands in-process with every library logger at DEBUG, the
Streamlit page through AppTest, the regression runner writing its files), and everything they
produced is searched for the keys, their tails (what a server's masked echo shows) and a middle
slice. The servers are real HTTP on 127.0.0.1: the scripted OpenAI-compatible one, and a
Qdrant stand-in that rejects every request and, like a careless proxy, echoes the key it got.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from msrag.cli import app
from retrieval.ingest.offline import OfflineModels
from tests.conftest import DEMO_DOCS, REPO
from tests.llm_server import Fault, Reply, ScriptedLLM
from tests.regress.demo_llm import MODEL, demo_reply

OPENAI_KEY = "sk-proj-LEAKCHECKopenai93f1c7a2e5d8b4f6"
QDRANT_KEY = "qdr-LEAKCHECKqdrant6b2e9d4f1a7c3e8"
APP_FILE = REPO / "ui" / "app.py"
runner = CliRunner()


def secret_fragments() -> list[str]:
    """The whole keys, their last 8 characters and a slice from their middle."""
    out = []
    for key in (OPENAI_KEY, QDRANT_KEY):
        out += [key, key[-8:], key[8:20]]
    return out


def assert_clean(outputs: list[tuple[str, str]]) -> None:
    assert sum(len(text or "") for _, text in outputs) > 1000, "nothing was captured to check"
    for where, text in outputs:
        text = text or ""
        for fragment in secret_fragments():
            assert fragment not in text, f"{where} shows the secret fragment {fragment!r}"


class _RejectingQdrant(BaseHTTPRequestHandler):
    """Every request is refused; the body echoes the api-key header it was sent."""

    status = 403

    def _reject(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        sent = self.headers.get("api-key", "")
        body = json.dumps(
            {"status": {"error": f"Forbidden: api key {sent} has no access"}, "time": 0.0}
        ).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = _reject

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(params=[401, 403])
def rejecting_qdrant(request: pytest.FixtureRequest) -> Iterator[str]:
    handler = type("Handler", (_RejectingQdrant,), {"status": request.param})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def project(
    tmp_path: Path,
    offline_model_dirs: OfflineModels,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> Path:
    """A user's project: .env with the offline models, both keys in the environment, the demo
    documents ingested, and every logger recording at DEBUG."""
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.DEBUG)
    result = runner.invoke(
        app, ["models", "offline", str(offline_model_dirs.root), "--write-env", ".env"]
    )
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("QDRANT_API_KEY", QDRANT_KEY)
    monkeypatch.setenv("MSRAG_LLM_MAX_RETRIES", "0")
    # absolute: the page's one cached engine per process must not mistake another test's
    # relative `.msrag` for this one
    monkeypatch.setenv("MSRAG_DATA_DIR", str(tmp_path / ".msrag"))
    shutil.copytree(DEMO_DOCS, tmp_path / "docs")
    return tmp_path


def _invoke(outputs: list[tuple[str, str]], args: list[str], expect: int) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == expect, (args, result.output, result.exception)
    outputs.append((f"msrag {' '.join(args)} stdout", result.stdout))
    outputs.append((f"msrag {' '.join(args)} stderr", result.stderr))


def test_commands_and_logs_never_show_the_keys(
    project: Path,
    rejecting_qdrant: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    outputs: list[tuple[str, str]] = []
    with ScriptedLLM(api_key=OPENAI_KEY) as llm:
        monkeypatch.setenv("OPENAI_BASE_URL", llm.url)
        monkeypatch.setenv("MSRAG_LLM_MODEL", "test-model")
        _invoke(outputs, ["ingest", "docs"], 0)
        _invoke(outputs, ["status"], 0)
        _invoke(outputs, ["search", "When was Ada Lovelace born?", "--json"], 0)
        llm.script(Reply("Ada Lovelace was born on 10 December 1815 [1]."))
        _invoke(outputs, ["ask", "When was Ada Lovelace born?", "--verbose"], 0)
        assert llm.requests[-1].headers["authorization"] == f"Bearer {OPENAI_KEY}"  # it was sent
        # a server that refuses the model and quotes the whole key back
        llm.script(Fault(403, message=f"Key {OPENAI_KEY} may not use test-model"))
        result = runner.invoke(app, ["ask", "When was Ada Lovelace born?"])
        assert result.exit_code != 0 or "403" in result.output
        outputs += [("ask with a 403 stdout", result.stdout), ("ask 403 stderr", result.stderr)]
        _invoke(outputs, ["export", "--to", rejecting_qdrant], 3)

    with ScriptedLLM(api_key="sk-another-key-0000000000") as wrong:  # 401, masked echo
        monkeypatch.setenv("OPENAI_BASE_URL", wrong.url)
        result = runner.invoke(app, ["ask", "When was Ada Lovelace born?"])
        outputs += [("ask with a 401 stdout", result.stdout), ("ask 401 stderr", result.stderr)]
        assert "401" in result.output

    monkeypatch.setenv("QDRANT_URL", rejecting_qdrant)
    for args in (["status"], ["search", "Ada"], ["ingest", "docs"], ["import", "x.jsonl"]):
        result = runner.invoke(app, args)
        assert result.exit_code in (2, 3), (args, result.output)
        assert "refused" in result.stderr or "x.jsonl" in result.stderr
        outputs += [(f"{args} against Qdrant {rejecting_qdrant}", result.stderr)]

    assert any(r.name.startswith(("openai", "httpx")) for r in caplog.records), "no client logs"
    outputs.append(("log records", caplog.text))
    outputs.append(("log record args", repr([r.__dict__ for r in caplog.records])))
    assert_clean(outputs)


def test_answer_prompt_and_regression_files_never_hold_the_keys(
    project: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    shutil.copytree(REPO / "examples" / "regress", project / "regress")
    shutil.rmtree(project / "docs")
    shutil.copytree(DEMO_DOCS, project / "docs")
    suite = project / "regress" / "cases.yaml"
    outputs: list[tuple[str, str]] = []
    with ScriptedLLM(models=[MODEL], default=demo_reply, api_key=OPENAI_KEY) as llm:
        monkeypatch.setenv("OPENAI_BASE_URL", llm.url)
        result = runner.invoke(
            app,
            ["regress", str(suite), "--llm", "live", "--record", "--update", "--junit", "a.xml"],
        )
        assert result.exit_code in (0, 1), result.output
        assert llm.requests, "the live run did not reach the model"
        outputs += [("regress --record output", result.output)]
    result = runner.invoke(app, ["regress", str(suite), "--junit", "b.xml"])  # replay
    outputs += [("regress replay output", result.output)]
    written = [p for p in (project / "regress").rglob("*") if p.is_file()]
    written += [project / "a.xml", project / "b.xml"]
    assert any(p.name.endswith(".cassette.json") for p in written)
    for path in written:
        outputs.append((str(path.relative_to(project)), path.read_text(errors="replace")))

    # the Answer the library returns: its text, sources and the exact messages sent
    from assistant import Assistant
    from msrag.settings import Settings
    from retrieval import MultiStageRetriever

    with ScriptedLLM(api_key=OPENAI_KEY) as llm:
        monkeypatch.setenv("OPENAI_BASE_URL", llm.url)
        monkeypatch.setenv("MSRAG_LLM_MODEL", "test-model")
        settings = Settings()
        assert settings.openai_api_key is not None
        retriever = MultiStageRetriever.from_settings(settings)
        try:
            bot = Assistant(settings, retriever)
            first = bot.ask("Who was Ada Lovelace?")
            answer = bot.ask("When was she born?", history=[first])
        finally:
            retriever.close()
    outputs += [("Answer", repr(answer)), ("Answer.messages", json.dumps(answer.messages))]
    outputs += [("Settings repr", repr(settings)), ("log records", caplog.text)]
    assert_clean(outputs)


def _page_text(at: AppTest) -> str:
    """Every element of the page, main area and sidebar, as its protobuf text."""

    def walk(node: Any) -> Iterator[str]:
        children = getattr(node, "children", None)
        if children:
            for child in children.values():
                yield from walk(child)
        proto = getattr(node, "proto", None)
        if proto is not None:
            yield str(proto)

    return "\n".join(walk(at._tree))


def test_the_page_never_shows_the_keys(
    project: Path, rejecting_qdrant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["ingest", "docs"]).exit_code == 0
    outputs: list[tuple[str, str]] = []
    with ScriptedLLM(api_key=OPENAI_KEY) as llm:
        monkeypatch.setenv("OPENAI_BASE_URL", llm.url)
        monkeypatch.setenv("MSRAG_LLM_MODEL", "test-model")
        llm.script(Reply("Ada Lovelace was born on 10 December 1815 [1]."))
        llm.script(Fault(403, message=f"Key {OPENAI_KEY} may not use test-model"))
        at = AppTest.from_file(str(APP_FILE), default_timeout=120).run()
        at.chat_input[0].set_value("When was Ada Lovelace born?").run()
        at.chat_input[0].set_value("And what did she write?").run()
        assert not at.exception, [e.value for e in at.exception]
        text = _page_text(at)
        assert "1815" in text and "403" in text, text[-3000:]  # the good answer and the refused
        outputs.append(("page with an LLM", text))

    monkeypatch.setenv("QDRANT_URL", rejecting_qdrant)
    at = AppTest.from_file(str(APP_FILE), default_timeout=120).run()
    assert at.error, "the page should say the server refused"
    outputs.append(("page with a rejecting Qdrant", _page_text(at)))
    assert_clean(outputs)
