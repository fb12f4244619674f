"""A fastembed cache holding stand-ins for the default model names, and an offline environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.ingest.offline import OfflineModels
from tests.defaults.hub_standins import build_hub_cache


@pytest.fixture(scope="session")
def hub_cache(offline_model_dirs: OfflineModels, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hub_cache(offline_model_dirs, tmp_path_factory.mktemp("fastembed-cache"))


def offline_env(cache: Path) -> dict[str, str]:
    """What a user with a warm fastembed cache and no network has: the cache, the hub switched
    off, and (belt and braces) a hub endpoint nothing listens on, so any download attempt fails."""
    return {
        "FASTEMBED_CACHE_PATH": str(cache),
        "HF_HUB_OFFLINE": "1",
        "HF_ENDPOINT": "http://127.0.0.1:9",
    }


@pytest.fixture
def default_models(hub_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default model names resolve to the stand-ins, offline; returns the cache folder."""
    for name, value in offline_env(hub_cache).items():
        monkeypatch.setenv(name, value)
    return hub_cache
