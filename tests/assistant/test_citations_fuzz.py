"""The streaming citation parser, fuzzed: any text in any split gives the same validated answer."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.citations import CitationStream
from assistant.types import CitationEvent, TextEvent

# Model output rich in marker look-alikes: brackets, digits, commas, ranges, unicode, NUL.
pieces = st.sampled_from(
    [
        "[",
        "]",
        "1",
        "2",
        "9",
        "12",
        ",",
        " ",
        "-",
        "–",
        "[1]",
        "[2, 3]",
        "[1-3]",
        "[7]",
        "[[",
        "]]",
        "[a]",
        "\n",
        "\x00",
        "é",
        "[99999999999999999999]",
        "[1,",
        "2]",
        "Ada",
        ".",
    ]
)
answers = st.lists(pieces | st.text(max_size=5), max_size=60).map("".join)
VALID = (1, 2, 3, 4, 5)


def run(deltas: list[str]) -> tuple[str, list[int], list[int], list[TextEvent | CitationEvent]]:
    stream = CitationStream(VALID)
    events = []
    for delta in deltas:
        events += stream.feed(delta)
    events += stream.close()
    return stream.text, stream.cited, stream.invalid, events


def splits(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


@settings(max_examples=100, deadline=None)
@given(text=answers, cuts=st.lists(st.integers(0, 10_000), max_size=20))
def test_any_split_gives_the_same_answer_as_one_piece(text: str, cuts: list[int]) -> None:
    whole = run([text])
    split = run(splits(text, cuts))
    assert split[:3] == whole[:3]
    # Only numbers of passages that were sent are ever cited.
    assert set(split[1]) <= set(VALID)
    assert all(set(e.numbers) <= set(VALID) for e in split[3] if isinstance(e, CitationEvent))
    # What was shown while streaming is exactly the final text.
    shown = "".join(
        e.text if isinstance(e, TextEvent) else "".join(f"[{n}]" for n in e.numbers)
        for e in split[3]
    )
    assert shown == split[0]
