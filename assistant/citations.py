"""Citation markers: streaming-safe parsing, validation against the sent passages, mapping.

The model cites passages as `[1]`, `[1, 2]`, `[1][2]` or `[1-3]`. Text arrives in arbitrary
chunks, so a marker can be split (`[1` + `2]`): the parser holds back anything that could still
become a marker and releases it once it is decided. A marker number that matches no passage
sent to the model (e.g. `[7]` with five passages, the 9 in `[2, 9]`) is removed and reported —
never shown as a link to nothing.

>>> stream = CitationStream(valid=[1, 2, 3])
>>> events = stream.feed("Ada was born in 1815 [1") + stream.feed("][7].") + stream.close()
>>> stream.text, stream.invalid
('Ada was born in 1815 [1].', [7])
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from assistant import sentences
from assistant.types import CitationEvent, TextEvent

# A complete marker: numbers separated by commas/semicolons, or a range with - or –.
_MARKER = re.compile(r"\[\s*(\d{1,3}(?:\s*(?:[,;]|[-–])\s*\d{1,3})*)\s*\]")
# What may still grow into a marker (the start of one, up to the end of the buffer).
_PARTIAL = re.compile(r"\[\s*(?:\d{1,3}(?:\s*(?:[,;]|[-–])\s*(?:\d{1,3})?)*)?\s*$")
_MAX_RANGE = 20  # "[1-3]" expands; "[1-2000]" is not a citation

# A list item's bullet or number, not part of the sentence it introduces.
_BULLET = re.compile(r"^(?:[-*•]|\d{1,2}[.)])\s+")
# A marker in already-normalised answer text.
_NORMALISED = re.compile(r"\[(\d+)\]")


def parse_numbers(body: str) -> list[int]:
    """The numbers of a marker body: '1, 2' → [1, 2]; '1-3' → [1, 2, 3] (in order, unique)."""
    numbers: list[int] = []
    for part in re.split(r"\s*[,;]\s*", body.strip()):
        bounds = re.split(r"\s*[-–]\s*", part)
        if len(bounds) == 2 and bounds[0] and bounds[1]:
            lo, hi = int(bounds[0]), int(bounds[1])
            span = range(lo, hi + 1) if 0 <= hi - lo < _MAX_RANGE else [lo, hi]
        else:
            span = [int(b) for b in bounds if b]
        numbers.extend(n for n in span if n not in numbers)
    return numbers


class CitationStream:
    """Feed model text deltas, get display events with validated citations.

    `feed()` returns the `TextEvent`/`CitationEvent`s that are decided so far; `close()` flushes
    the rest. `text` is the normalised answer (valid markers as `[n]`), `cited` the valid numbers
    in order of first use, `invalid` the removed ones.
    """

    def __init__(self, valid: Iterable[int]) -> None:
        self._valid = frozenset(valid)
        self._buf = ""
        self._parts: list[str] = []
        self.cited: list[int] = []
        self.invalid: list[int] = []

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def feed(self, delta: str) -> list[TextEvent | CitationEvent]:
        self._buf += delta
        return self._drain(final=False)

    def close(self) -> list[TextEvent | CitationEvent]:
        return self._drain(final=True)

    def _drain(self, final: bool) -> list[TextEvent | CitationEvent]:
        events: list[TextEvent | CitationEvent] = []
        buf = self._buf
        while buf:
            i = buf.find("[")
            if i < 0:
                # hold trailing whitespace: if an invalid marker follows, it goes with it
                keep = len(buf) - len(buf.rstrip()) if not final else 0
                self._text(events, buf[: len(buf) - keep])
                buf = buf[len(buf) - keep :]
                break
            # whitespace right before a marker belongs to the marker's fate
            lead = len(buf[:i]) - len(buf[:i].rstrip())
            m = _MARKER.match(buf, i)
            if m:
                numbers = parse_numbers(m.group(1))
                good = tuple(n for n in numbers if n in self._valid)
                self.invalid.extend(n for n in numbers if n not in self._valid)
                if good:
                    self._text(events, buf[:i])
                    self._cite(events, good)
                else:
                    self._text(events, buf[: i - lead])
                buf = buf[m.end() :]
                continue
            if not final and _PARTIAL.fullmatch(buf, i):
                self._text(events, buf[: i - lead])
                buf = buf[i - lead :]
                break
            self._text(events, buf[: i + 1])  # a literal bracket, e.g. "[see above]"
            buf = buf[i + 1 :]
        self._buf = buf
        return events

    def _text(self, events: list[TextEvent | CitationEvent], text: str) -> None:
        if text:
            self._parts.append(text)
            if events and isinstance(events[-1], TextEvent):
                events[-1] = TextEvent(events[-1].text + text)
            else:
                events.append(TextEvent(text))

    def _cite(self, events: list[TextEvent | CitationEvent], numbers: tuple[int, ...]) -> None:
        self.cited.extend(n for n in numbers if n not in self.cited)
        self._parts.append("".join(f"[{n}]" for n in numbers))
        events.append(CitationEvent(numbers))


def validate(text: str, valid: Iterable[int]) -> tuple[str, list[int], list[int]]:
    """Whole-text version: (normalised text, cited numbers, removed invalid numbers).

    >>> validate("Yes [2, 9]. No [7].", valid=range(1, 6))
    ('Yes [2]. No.', [2], [9, 7])
    """
    stream = CitationStream(valid)
    stream.feed(text)
    stream.close()
    return stream.text, stream.cited, stream.invalid


def strip_markers(text: str) -> str:
    """The text without citation markers (for history sent to the condense prompt)."""
    return re.sub(r"\s*" + _MARKER.pattern, "", text)


def sentences_by_source(text: str) -> dict[int, list[str]]:
    """Map each cited number to the answer sentences that cite it (markers stripped).

    A sentence made only of markers ("... in 1815. [1]") belongs to the sentence before it.

    >>> sentences_by_source("Ada was born in 1815 [1]. She died in 1852. [2][1]")
    {1: ['Ada was born in 1815.', 'She died in 1852.'], 2: ['She died in 1852.']}
    >>> sentences_by_source("Two facts:\\n- Born in 1815 [1]\\n- Died in 1852 [2]")
    {1: ['Born in 1815'], 2: ['Died in 1852']}
    """
    result: dict[int, list[str]] = {}
    previous = ""
    # a line break ends a sentence too: list items rarely end with a full stop
    pieces = [s for line in text.splitlines() for s in sentences.split(line)]
    for sentence in pieces:
        numbers = [int(n) for n in _NORMALISED.findall(sentence)]
        plain = re.sub(r"\s*\[\d+\]", "", sentence).strip()
        plain = _BULLET.sub("", plain)
        if not plain and previous:
            plain = previous
        for n in numbers:
            bucket = result.setdefault(n, [])
            if plain and plain not in bucket:
                bucket.append(plain)
        if plain:
            previous = plain
    return dict(sorted(result.items()))
