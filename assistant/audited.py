"""Every turn on the record: an `Assistant` for one user whose answers go to the audit log.

bot = audited(Assistant(settings, retriever.restricted_to(user.groups)), log, user)
bot.ask("How many holidays?")  # logged: user, question, documents sent
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from assistant.chat import Assistant, Searcher
from assistant.extractive import ExtractiveAnswerer
from assistant.llm import ChatLLM
from assistant.prompts import PromptLibrary
from assistant.settings import AssistantSettings
from assistant.types import Answer, ChatMessage, DoneEvent, Event
from retrieval.types import Filter
from teams.audit import AuditLog
from teams.identity import User


def answer_doc_ids(answer: Answer) -> list[str]:
    """The documents a turn revealed: every passage sent to the model, and any left out."""
    return [s.doc_id for s in answer.all_sources] + [p.doc_id for p in answer.omitted]


class AuditedAssistant(Assistant):
    """An `Assistant` that records each finished turn (`ask` runs through `stream`) in `log` as
    `user`'s: the question, the documents it revealed, and the user's access."""

    def __init__(
        self,
        settings: AssistantSettings,
        retriever: Searcher,
        *,
        log: AuditLog,
        user: User,
        llm: ChatLLM | None = None,
        prompts: PromptLibrary | None = None,
        extractive: ExtractiveAnswerer | None = None,
    ) -> None:
        super().__init__(settings, retriever, llm=llm, prompts=prompts, extractive=extractive)
        self.log = log
        self.user = user

    def stream(
        self,
        question: str,
        history: Sequence[ChatMessage | Mapping[str, Any] | Answer] = (),
        *,
        mode: str | None = None,
        top_k: int | None = None,
        filter: Filter | None = None,
    ) -> Iterator[Event]:
        for event in super().stream(question, history, mode=mode, top_k=top_k, filter=filter):
            if isinstance(event, DoneEvent):
                self.log.record(
                    self.user.name,
                    "ask",
                    question,
                    doc_ids=answer_doc_ids(event.answer),
                    groups=self.user.access,
                )
            yield event


def audited(assistant: Assistant, log: AuditLog, user: User) -> AuditedAssistant:
    """An assistant made of `assistant`'s parts (its settings, retriever, LLM client, prompts and
    extractive answerer) that records each turn; `assistant` itself is left as it is."""
    return AuditedAssistant(
        assistant.settings,
        assistant.retriever,
        log=log,
        user=user,
        llm=assistant.llm,
        prompts=assistant.prompts,
        extractive=assistant.extractor,
    )
