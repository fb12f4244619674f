"""The terminal chat's saved conversations: `msrag chat --list`, `--export ID`, `--resume [ID]`.

The same SQLite store as the browser chat (`MSRAG_CONVERSATIONS_DB`), so a conversation begun
in one continues in the other. Saving never stops the chat: when the history cannot be written,
one yellow sentence says why and the chat goes on unsaved.

    recorder = Recorder(store, None, top_k=5, model_label="gpt-4o-mini", err=Console())
    chat_loop(assistant, console=out, history=recorder.history, on_answer=recorder.save)
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from assistant.conversations import ConversationStore, HistoryArgumentError, HistoryError
from assistant.transcript import to_markdown
from assistant.types import Answer, ChatMessage


def conversations_table(store: ConversationStore, search: str = "", limit: int = 50) -> Table:
    """Saved conversations, newest first: id, title, turns, last answer (UTC)."""
    table = Table("id", "title", "turns", "updated (UTC)", title="Saved conversations")
    for conversation in store.conversations(search, limit=limit):
        title = " ".join(conversation.title.split())
        table.add_row(
            str(conversation.id),
            escape(title if len(title) <= 70 else title[:69] + "…"),
            str(conversation.turns),
            conversation.updated_at[:16].replace("T", " "),
        )
    return table


def export(store: ConversationStore, conversation_id: int) -> str:
    """The conversation as Markdown (`HistoryArgumentError` when there is no such id)."""
    require(store, conversation_id)
    conversation = store.get(conversation_id)
    assert conversation is not None
    return to_markdown(conversation, store.turns(conversation_id))


def require(store: ConversationStore, conversation_id: int) -> None:
    """`HistoryArgumentError` naming the id unless the conversation exists."""
    if store.get(conversation_id) is None:
        raise HistoryArgumentError(
            f"There is no conversation {conversation_id}: `msrag chat --list` shows the ids."
        )


def latest(store: ConversationStore) -> int:
    """The most recently updated conversation (what `--resume` without an id continues)."""
    listed = store.conversations(limit=1)
    if not listed:
        raise HistoryArgumentError(
            "There is no saved conversation to resume: start one with `msrag chat`."
        )
    return listed[0].id


class Recorder:
    """Saves each answer of a terminal chat as a turn of conversation `conversation_id` (a new
    conversation, titled by its first question, when None)."""

    def __init__(
        self,
        store: ConversationStore | None,
        conversation_id: int | None,
        *,
        top_k: int | None,
        model_label: str,
        err: Console,
    ) -> None:
        self.store = store
        self.conversation_id = conversation_id
        self.top_k = top_k
        self.model_label = model_label
        self.err = err
        self._warned = False

    @property
    def history(self) -> list[ChatMessage]:
        """The earlier turns of the conversation being continued, as chat history."""
        if self.store is None or self.conversation_id is None:
            return []
        messages: list[ChatMessage] = []
        for turn in self.store.turns(self.conversation_id):
            messages += [
                ChatMessage("user", turn.question),
                ChatMessage("assistant", turn.answer.text),
            ]
        return messages

    def save(self, answer: Answer) -> None:
        if self.store is None or answer.text == "" and answer.error:
            return
        try:
            turn = self.store.add_turn(
                self.conversation_id, answer, top_k=self.top_k, model_label=self.model_label
            )
        except HistoryError as exc:
            if not self._warned:  # once per chat: the reason does not change between turns
                self.err.print(f"[yellow]{escape(str(exc))}[/yellow]")
                self._warned = True
            return
        self.conversation_id = turn.conversation_id

    def reset(self) -> None:
        self.conversation_id = None
