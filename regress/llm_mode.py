"""Where a regression run's answers come from: the one definition of `--llm` / `--msrag-llm`.

A module of its own, so that the pytest plugin and the command line name the modes without
importing the runner (and with it the assistant and the models).
"""

from __future__ import annotations

from enum import StrEnum


class LLMMode(StrEnum):
    """How a suite's cases get their answers (see `regress/runner.py`)."""

    REPLAY = "replay"  # from the suite's cassette: deterministic, offline, never calls a model
    LIVE = "live"  # the configured model (extractive without one); `record` writes the cassette
    OFF = "off"  # no model: the extractive answer is checked
