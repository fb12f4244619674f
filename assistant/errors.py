"""The assistant layer's errors (the product's base, `MsragError`, lives in `retrieval.errors`)."""

from __future__ import annotations

from retrieval.errors import MsragError, UpstreamError


class AssistantError(MsragError):
    """Base of the assistant layer's errors."""


class InvalidQuestionError(AssistantError, ValueError):
    """The question cannot be asked as it is (empty)."""


class LLMError(AssistantError, UpstreamError):
    """The language model could not answer. `kind` says why, for callers that branch on it:
    connection, timeout, auth, permission, model, endpoint, rate_limit, server, bad_request,
    stream (broke mid-answer), length (hit the answer-token limit), protocol."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class PromptError(AssistantError):
    """A prompt template is missing, unreadable, or rendered with the wrong slots."""
