"""The assistant's settings: the LLM endpoint, the prompts and when to refuse."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator

from teams.settings import TeamSettings


class AssistantSettings(TeamSettings):
    """Any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server), on top of the
    team settings. With neither key nor URL the assistant answers extractively."""

    openai_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "MSRAG_OPENAI_API_KEY"),
        description="API key of the LLM endpoint.",
    )
    openai_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_BASE_URL", "MSRAG_OPENAI_BASE_URL"),
        description="OpenAI-compatible endpoint (unset with a key = OpenAI).",
        examples=["http://localhost:11434/v1"],
    )
    llm_model: str = Field("gpt-4o-mini", description="Model name sent to the endpoint.")
    llm_context_window: int = Field(8192, ge=512, description="The model's context, in tokens.")
    llm_answer_tokens: int = Field(768, ge=16, description="Tokens reserved for the answer.")
    llm_temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature.")
    llm_timeout: float = Field(60.0, gt=0, description="Seconds before an LLM call gives up.")
    llm_max_retries: int = Field(2, ge=0, le=10, description="Retries of a failed LLM call.")
    min_rerank_score: float | None = Field(
        None,
        description="Below this top score the assistant says it found nothing relevant "
        "(unset = the calibrated default for the mode).",
    )
    prompts_dir: Path | None = Field(
        None, description="Prompt templates (default: the shipped `prompts/`)."
    )

    @field_validator("openai_base_url", mode="before")
    @classmethod
    def _blank_endpoint_is_unset(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @property
    def llm_configured(self) -> bool:
        return self.openai_api_key is not None or self.openai_base_url is not None
