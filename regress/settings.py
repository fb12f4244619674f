"""The regression suite's settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from assistant.settings import AssistantSettings


class RegressSettings(AssistantSettings):
    """Where saved cases go, on top of the assistant's settings."""

    regress_cases: Path = Field(
        Path("msrag-cases.yaml"),
        description="Case file that 'Save as regression case' and --from-feedback append to.",
    )
