"""Fixtures for the regression runner's tests: a private copy of the example suite, shared
models and data dir."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from msrag.settings import Settings
from regress.cases import load_suite
from regress.runner import RegressionRunner, RunReport
from retrieval.encoders import Encoders
from retrieval.ingest.offline import OfflineModels
from tests.conftest import REPO, make_settings

EXAMPLE_DIR = REPO / "examples" / "regress"
EXAMPLE_CASES = EXAMPLE_DIR / "cases.yaml"


@pytest.fixture(scope="module")
def regress_settings(
    offline_model_dirs: OfflineModels, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """Offline models and a data dir shared by a module's tests: the suite's documents are
    ingested once, later runs find them unchanged."""
    return make_settings(offline_model_dirs, tmp_path_factory.mktemp("regress-data"))


@pytest.fixture
def demo_copy(tmp_path: Path) -> Path:
    """The example suite and its documents, copied so a test may edit goldens and cassette."""
    shutil.copytree(EXAMPLE_DIR, tmp_path / "regress")
    shutil.copytree(REPO / "examples" / "docs", tmp_path / "docs")
    return tmp_path / "regress" / "cases.yaml"


@pytest.fixture
def run_suite_at(regress_settings: Settings, encoders: Encoders) -> Callable[..., RunReport]:
    """Run a case file: `run_suite_at(path, settings=None, only=None, **runner_options)`."""

    def run(
        path: Path, settings: Settings | None = None, only: list[str] | None = None, **options: Any
    ) -> RunReport:
        runner = RegressionRunner(
            load_suite(path), settings or regress_settings, encoders=encoders, **options
        )
        with runner:
            return runner.run(only)

    return run
