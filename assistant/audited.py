"""Every turn on the record: an `Assistant` for one user whose answers go to the audit log.

bot = audited(Assistant(settings, retriever.restricted_to(user.groups)), log, user)
bot.ask("How many holidays?")  # logged: user, question, documents sent
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from assistant.chat import Assistant
from assistant.types import Answer, DoneEvent, Event
from teams.audit import AuditLog
from teams.identity import User


def answer_doc_ids(answer: Answer) -> list[str]:
    """The documents a turn revealed: every passage sent to the model, and any left out."""
    return [s.doc_id for s in answer.all_sources] + [p.doc_id for p in answer.omitted]


class _AuditedAssistant(Assistant):
    _log: AuditLog
    _user: User

    def stream(self, question: str, *args: Any, **kwargs: Any) -> Iterator[Event]:
        for event in super().stream(question, *args, **kwargs):
            if isinstance(event, DoneEvent):
                self._log.record(
                    self._user.name,
                    "ask",
                    question,
                    doc_ids=answer_doc_ids(event.answer),
                    groups=self._user.access,
                )
            yield event


def audited(assistant: Assistant, log: AuditLog, user: User) -> Assistant:
    """A copy of `assistant` (same retriever, LLM client and prompts) that records each turn."""
    clone = copy.copy(assistant)
    clone.__class__ = _AuditedAssistant
    clone._log, clone._user = log, user  # type: ignore[attr-defined]
    return clone
