"""The assistant: grounded, cited answers over the multi-stage retriever.

    from assistant import Assistant, Answer
    Assistant(settings, retriever).ask("Who was Ada Lovelace?").text
    # -> 'Ada Lovelace was an English mathematician [1].'
"""

from __future__ import annotations

import importlib
from typing import Any

# Lazy re-exports (PEP 562): `msrag --help` should not pay for importing openai and tiktoken.
_EXPORTS = {
    "Assistant": "chat",
    "Searcher": "chat",
    "CitationStream": "citations",
    "sentences_by_source": "citations",
    "validate": "citations",
    "ContextPacker": "context",
    "PackedContext": "context",
    "PackedPassage": "context",
    "TokenCounter": "context",
    "ExtractiveAnswerer": "extractive",
    "LLMClient": "llm",
    "LLMError": "errors",
    "LLMStream": "llm",
    "PromptError": "errors",
    "PromptLibrary": "prompts",
    "DEFAULT_THRESHOLDS": "refusal",
    "relevance_of": "refusal",
    "threshold_for": "refusal",
    **dict.fromkeys(
        ("Answer", "ChatMessage", "CitationEvent", "DoneEvent", "Event", "Source"),
        "types",
    ),
    **dict.fromkeys(
        ("SourcesEvent", "StageEvent", "TextEvent", "Timings", "UNCITED_NOTICE"), "types"
    ),
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'assistant' has no attribute {name!r}")
    return getattr(importlib.import_module(f"assistant.{module}"), name)


__all__ = [  # noqa: F822 - provided lazily by __getattr__
    "DEFAULT_THRESHOLDS",
    "Answer",
    "Assistant",
    "ChatMessage",
    "CitationEvent",
    "CitationStream",
    "ContextPacker",
    "DoneEvent",
    "Event",
    "ExtractiveAnswerer",
    "LLMClient",
    "LLMError",
    "LLMStream",
    "PackedContext",
    "PackedPassage",
    "PromptError",
    "PromptLibrary",
    "Searcher",
    "Source",
    "SourcesEvent",
    "StageEvent",
    "TextEvent",
    "Timings",
    "TokenCounter",
    "UNCITED_NOTICE",
    "relevance_of",
    "sentences_by_source",
    "threshold_for",
    "validate",
]
