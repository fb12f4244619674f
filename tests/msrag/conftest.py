"""Fixtures for the commands: a user's project folder, a scripted OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from msrag.cli import app
from retrieval.ingest.offline import OfflineModels
from tests.assistant.conftest import SECRET
from tests.llm_server import ScriptedLLM


@pytest.fixture
def workdir(
    tmp_path: Path, offline_model_dirs: OfflineModels, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A project folder whose .env points at the offline models, as a user's would."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["models", "offline", str(offline_model_dirs.root), "--write-env", ".env"]
    )
    assert result.exit_code == 0, result.output
    return tmp_path


@pytest.fixture
def llm_server() -> Iterator[ScriptedLLM]:
    with ScriptedLLM(api_key=SECRET) as server:
        yield server
