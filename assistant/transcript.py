"""A saved conversation as Markdown: what `msrag chat --export ID` prints and the page downloads.

Each answer keeps its `[n]` citations, made unique across the whole conversation (the second
answer's `[1]` becomes `[3]` when the first used two sources), so one numbered source list at
the end serves every answer. Questions and answers are quoted as text: Markdown or HTML typed
into a question does not format the transcript.

    print(to_markdown(conversation, turns))
    # -> "# When was Ada Lovelace born?" …
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.conversations import Conversation, Turn
from assistant.types import Source

_MARKER = re.compile(r"\[(\d+)\]")
# Characters that would start Markdown structure or inline markup in a line of text.
_ACTIVE = re.compile(r"([\\`*_{}\[\]()#+\-!|<>~])")


def escape(text: str) -> str:
    """Plain text for a Markdown document: markup characters backslash-escaped, control
    characters (other than newlines and tabs) dropped."""
    text = "".join(c for c in text if c in "\n\t" or (ord(c) >= 32 and ord(c) != 127))
    return _ACTIVE.sub(r"\\\1", text)


def to_markdown(conversation: Conversation, turns: Sequence[Turn]) -> str:
    """The conversation: a heading, each question and answer, then the numbered source list."""
    lines = [f"# {escape(' '.join(conversation.title.split()))}", ""]
    started = conversation.created_at[:16].replace("T", " ")
    lines.append(f"_Conversation {conversation.id}, started {started} UTC._")
    numbered: dict[str, int] = {}  # passage id → number in this transcript
    listed: list[Source] = []
    for turn in turns:
        answer = turn.answer
        local = {s.number: s for s in answer.sources}

        def global_number(match: re.Match[str], local: dict[int, Source] = local) -> str:
            source = local.get(int(match.group(1)))
            if source is None:
                return ""
            if source.passage_id not in numbered:
                numbered[source.passage_id] = len(numbered) + 1
                listed.append(source)
            return f"[{numbered[source.passage_id]}]"

        # Escape the text between markers, then put the renumbered markers back unescaped.
        parts: list[str] = []
        last = 0
        for match in _MARKER.finditer(answer.text):
            parts.append(escape(answer.text[last : match.start()]))
            parts.append(global_number(match))
            last = match.end()
        parts.append(escape(answer.text[last:]))
        lines += ["", f"## {turn.position}. {escape(' '.join(answer.question.split()))}", ""]
        lines.append("".join(parts).strip() or "_(no answer)_")
        notes = []
        if answer.extractive and not answer.refused:
            notes.append("extractive answer (no language model)")
        if answer.refused:
            notes.append("nothing relevant enough was found")
        if answer.error:
            notes.append(("cut short: " if answer.partial else "failed: ") + escape(answer.error))
        if notes:
            lines += ["", f"_{'; '.join(notes)}_"]
    if listed:
        lines += ["", "## Sources", ""]
        for number, source in enumerate(listed, start=1):
            where = " · ".join(x for x in (source.source, source.location) if x)
            title = source.title or source.source
            lines.append(f"{number}. **{escape(title)}** — {escape(where)}")
    return "\n".join(lines) + "\n"
