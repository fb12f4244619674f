"""A store with the demo documents, ingested once, and the environment that points the page at it.

The page builds `Settings()` itself, so tests configure it the way a user does: environment
variables. Tests run from a scratch working directory so no developer `.env` is read.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from retrieval.encoders import Encoders
from retrieval.ingest.offline import OfflineModels
from retrieval.ingest.pipeline import ingest
from retrieval.stores import open_store
from tests.conftest import DEMO_DOCS, make_settings, shipped_layout

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "ui" / "app.py"


def page_env(models: OfflineModels, data_dir: Path) -> dict[str, str]:
    """The variables that point `Settings()` at the offline models and `data_dir`, no LLM."""
    return {
        "MSRAG_DATA_DIR": str(data_dir),
        "MSRAG_DENSE_MODEL": str(models.minilm),
        "MSRAG_SPARSE_MODEL": str(models.bm25),
        "MSRAG_COLBERT_MODEL": str(models.minilm),
    }


@pytest.fixture(scope="session")
def demo_data(
    offline_model_dirs: OfflineModels, encoders: Encoders, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A data dir holding the demo documents (ingested once; copy it before writing to it)."""
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    # the page builds Settings() from the environment: the shipped default layout
    settings = make_settings(offline_model_dirs, data_dir, **shipped_layout())
    encoders = encoders.configured(settings)
    store = open_store(settings, encoders.layout(settings))
    try:
        report = ingest([DEMO_DOCS], settings, store, encoders, progress=False)
    finally:
        store.close()
    assert report.ok and report.counts()["ingested"] >= 8, report.summary()
    return data_dir


@pytest.fixture
def page_data(demo_data: Path, tmp_path: Path) -> Path:
    """A private copy of the demo store (the page may add uploads to it)."""
    copy = tmp_path / "data"
    shutil.copytree(demo_data, copy)
    return copy


@pytest.fixture
def page(
    offline_model_dirs: OfflineModels,
    page_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """Environment and working directory for an AppTest run of the page; returns the data dir."""
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    for name, value in page_env(offline_model_dirs, page_data).items():
        monkeypatch.setenv(name, value)
    return page_data
