"""Citation markers: every form, split across chunks at every position, validated, mapped."""

from __future__ import annotations

import pytest

from assistant.citations import (
    CitationStream,
    parse_numbers,
    sentences_by_source,
    strip_markers,
    validate,
)
from assistant.types import CitationEvent, TextEvent


def run(chunks: list[str], valid=range(1, 6)) -> tuple[list, CitationStream]:
    stream = CitationStream(valid)
    events = []
    for chunk in chunks:
        events += stream.feed(chunk)
    events += stream.close()
    return events, stream


class TestMarkerForms:
    @pytest.mark.parametrize(
        ("text", "expected", "cited"),
        [
            ("Born in 1815 [1].", "Born in 1815 [1].", [1]),
            ("Born in 1815 [1, 2].", "Born in 1815 [1][2].", [1, 2]),
            ("Born in 1815 [1][2].", "Born in 1815 [1][2].", [1, 2]),
            ("Born in 1815 [1; 3].", "Born in 1815 [1][3].", [1, 3]),
            ("Born in 1815 [2-4].", "Born in 1815 [2][3][4].", [2, 3, 4]),
            ("Born in 1815 [ 2 ].", "Born in 1815 [2].", [2]),
            ("Born in 1815 [1, 1].", "Born in 1815 [1].", [1]),
        ],
    )
    def test_valid_markers_are_normalised(self, text: str, expected: str, cited: list[int]):
        assert validate(text, range(1, 6))[:2] == (expected, cited)

    def test_marker_beyond_the_sent_passages_is_removed_and_reported(self):
        assert validate("Born in 1815 [7].", range(1, 6)) == ("Born in 1815.", [], [7])

    def test_only_the_invalid_number_of_a_mixed_marker_is_removed(self):
        assert validate("Yes [2,9] indeed.", range(1, 6)) == ("Yes [2] indeed.", [2], [9])

    def test_zero_is_never_a_passage_number(self):
        assert validate("Odd [0] marker.", range(1, 6)) == ("Odd marker.", [], [0])

    def test_removed_marker_mid_sentence_keeps_single_spacing(self):
        assert validate("He [7] wrote it [1].", range(1, 6))[0] == "He wrote it [1]."

    @pytest.mark.parametrize(
        "text",
        [
            "See [a] and [see above].",
            "Years [2020-2021] stay.",
            "An array x[i] and [ ] too.",
            "Unclosed [1 bracket",
        ],
    )
    def test_brackets_that_are_not_markers_stay_text(self, text: str):
        assert validate(text, range(1, 6)) == (text, [], [])

    def test_parse_numbers_expands_small_ranges_only(self):
        assert parse_numbers("1-3") == [1, 2, 3]
        assert parse_numbers("1-200") == [1, 200]
        assert parse_numbers("3, 1; 3") == [3, 1]


class TestStreaming:
    TEXT = "Ada was born in 1815 [1]. She met Babbage [2][9] in 1833 [3, 7]. Fin [12]."

    def test_every_split_point_gives_the_whole_text_result(self):
        whole = validate(self.TEXT, range(1, 6))
        for i in range(len(self.TEXT) + 1):
            _, stream = run([self.TEXT[:i], self.TEXT[i:]])
            assert (stream.text, stream.cited, stream.invalid) == whole, f"split at {i}"

    def test_character_by_character(self):
        events, stream = run(list(self.TEXT))
        assert stream.text == "Ada was born in 1815 [1]. She met Babbage [2] in 1833 [3]. Fin."
        assert stream.invalid == [9, 7, 12]
        assert [e.numbers for e in events if isinstance(e, CitationEvent)] == [(1,), (2,), (3,)]

    def test_marker_split_across_chunks_yields_one_citation(self):
        events, stream = run(["Born [1", "2]. Died [", "3]."], valid=range(1, 13))
        assert [e for e in events if isinstance(e, CitationEvent)] == [
            CitationEvent((12,)),
            CitationEvent((3,)),
        ]
        assert stream.text == "Born [12]. Died [3]."

    def test_text_events_never_contain_a_marker_or_a_dangling_bracket(self):
        events, stream = run(["Born [1", "2] and [", "17", "] x [a", "b]"], valid=range(1, 13))
        texts = "".join(e.text for e in events if isinstance(e, TextEvent))
        assert texts == "Born  and x [ab]"  # [12] sat between the two spaces; [17] went
        assert stream.text == "Born [12] and x [ab]"

    def test_text_is_released_as_soon_as_it_cannot_be_a_marker(self):
        stream = CitationStream(range(1, 6))
        assert stream.feed("Hello world") == [TextEvent("Hello world")]
        assert stream.feed(" [") == []  # could still become a marker
        assert stream.feed("x") == [TextEvent(" [x")]

    def test_events_replay_to_the_normalised_text(self):
        events, stream = run([self.TEXT[i : i + 3] for i in range(0, len(self.TEXT), 3)])
        replay = "".join(e.text if isinstance(e, TextEvent) else e.marker for e in events)
        assert replay == stream.text


class TestMapping:
    def test_sentences_by_source(self):
        text = "Ada was born in 1815 [1]. She met Babbage in 1833 [2][1]. Unrelated sentence."
        assert sentences_by_source(text) == {
            1: ["Ada was born in 1815.", "She met Babbage in 1833."],
            2: ["She met Babbage in 1833."],
        }

    def test_marker_after_the_full_stop_cites_the_sentence_before(self):
        assert sentences_by_source("Ada was born in 1815. [1] She died in 1852.") == {
            1: ["Ada was born in 1815."]
        }

    def test_strip_markers(self):
        assert strip_markers("Ada was born in 1815 [1][2]. Yes [3, 4].") == (
            "Ada was born in 1815. Yes."
        )
