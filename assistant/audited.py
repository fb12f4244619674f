"""Every turn on the record: an `Assistant` for one user whose answers go to the audit log.

bot = audited(Assistant(settings, retriever.restricted_to(user.groups)), log, user)
bot.ask("How many holidays?")  # logged: user, question, documents sent
"""

from __future__ import annotations

from assistant.chat import Assistant
from assistant.types import Answer
from teams.audit import AuditLog
from teams.identity import User


def answer_doc_ids(answer: Answer) -> list[str]:
    """The documents a turn revealed: every passage sent to the model, and any left out."""
    return [s.doc_id for s in answer.all_sources] + [p.doc_id for p in answer.omitted]


def audited(assistant: Assistant, log: AuditLog, user: User) -> Assistant:
    """An assistant made of `assistant`'s parts (its settings, retriever, LLM client, prompts and
    extractive answerer) that records each finished turn in `log` as `user`'s: the question, the
    documents it revealed, and the user's access. `assistant` itself is left as it is."""

    def record(question: str, answer: Answer) -> None:
        log.record(
            user.name, "ask", question, doc_ids=answer_doc_ids(answer), groups=user.access
        )

    return Assistant(
        assistant.settings,
        assistant.retriever,
        llm=assistant.llm,
        prompts=assistant.prompts,
        extractive=assistant.extractor,
        on_answer=record,
    )
