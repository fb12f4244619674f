"""The HTML building blocks of the page and the used-sentence finder (no Streamlit needed)."""

from __future__ import annotations

import html
import re

import pytest

from ui.evidence import used_spans
from ui.markup import answer_html, escape_text, heat_html, highlighted

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "<a href='javascript:alert(1)'>x</a>",
    "$x^2$ :red[colour] **bold** `code` # heading",
    '" onmouseover="alert(1)',
]


def _visible(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment.replace("<br>", "\n")))


class TestEscaping:
    @pytest.mark.parametrize("payload", PAYLOADS)
    def test_payload_round_trips_as_text_and_carries_no_markup(self, payload: str) -> None:
        out = escape_text(payload)
        assert _visible(out) == payload
        bare = re.sub(r"&#?\w+;", "", out)  # what is left once the character references go
        assert not re.search(r"[<>\"'\[\]()*_`$:#&;]", bare), bare

    def test_blank_lines_cannot_end_the_html_block(self) -> None:
        assert "\n" not in escape_text("a\n\nb\r\nc")

    def test_citation_links_only_for_valid_numbers(self) -> None:
        out = answer_html("Born 1815 [1]. Odd [7]. <b>x</b> [2]", 3, {1: "Ada", 2: "Bio"})
        assert re.findall(r'href="#msrag-t3-s(\d)"', out) == ["1", "2"]
        assert "&#91;7&#93;" in out and "<b>" not in out


class TestHighlights:
    def test_marked_spans_merge_and_keep_the_text(self) -> None:
        text = "One <two>. Three four."
        out = highlighted(text, [(0, 10), (5, 9), (11, 16)])
        assert _visible(out) == text
        assert [_visible(m) for m in re.findall(r"<mark[^>]*>(.*?)</mark>", out)] == [
            "One <two>.", "Three"
        ]

    def test_heat_strongest_is_darkest(self) -> None:
        spans = [(0, 5, 0.2, "a"), (6, 10, 1.0, "b"), (6, 10, 0.5, "c")]
        out = heat_html("alpha beta gamma", spans)
        found = re.findall(r"rgba\(214, 90, 0, ([\d.]+)\)[^>]*>(\w+)<", out)
        shaded = {word: float(alpha) for alpha, word in found}
        assert shaded["beta"] > shaded["alpha"] and "gamma" not in shaded
        assert _visible(out) == "alpha beta gamma"
        assert 'title="b · c"' in out  # both query tokens that chose "beta" are named


class TestUsedSpans:
    PASSAGE = (
        "Ada Lovelace was born on 10 December 1815 in London. She was the only legitimate "
        "child of Lord Byron. Her tutors included Augustus De Morgan."
    )

    def test_verbatim_and_paraphrased_sentences(self) -> None:
        answer = [
            "- Ada Lovelace was born on 10 December 1815 in London.",
            "Augustus De Morgan was among her tutors [2].",
        ]
        spans = used_spans(self.PASSAGE, answer)
        assert [self.PASSAGE[a:b] for a, b in spans] == [
            "Ada Lovelace was born on 10 December 1815 in London.",
            "Her tutors included Augustus De Morgan.",
        ]

    def test_unrelated_sentence_marks_nothing(self) -> None:
        assert used_spans(self.PASSAGE, ["Sourdough needs a starter."]) == []
