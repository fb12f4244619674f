"""The extractive answerer's sentence rules, on passages written for each rule (no models)."""

from __future__ import annotations

import pytest

from assistant.extractive import ExtractiveAnswerer
from assistant.types import Source


def source(number: int, text: str, title: str = "Brewing Japanese green tea") -> Source:
    return Source(
        number=number,
        passage_id=f"p{number}",
        doc_id="tea",
        title=title,
        source="green_tea.html",
        page=None,
        heading=None,
        char_start=0,
        char_end=len(text),
        score=1.0,
        rank=number,
        text=text,
    )


# what the HTML loader makes of <h2>Sencha</h2><p>…</p>: the heading is a line of its own
TEA = (
    "Brewing Japanese green tea\n\nJapanese green teas are steamed.\n\nSencha\n\n"
    "Sencha is the most popular tea in Japan. Use water at 70 to 80 degrees Celsius.\n\n"
    "Gyokuro\n\nGyokuro is shaded before harvest."
)


def test_html_headings_are_never_quoted_but_name_what_follows() -> None:
    chosen = ExtractiveAnswerer().select("sencha", [source(1, TEA)])
    texts = [t for _, t in chosen]
    assert "Sencha" not in texts and "Brewing Japanese green tea" not in texts
    # "Use water at 70 to 80 …" says nothing of sencha itself: its heading does
    assert "Use water at 70 to 80 degrees Celsius." in texts


def test_markdown_headings_and_step_labels_are_skipped() -> None:
    text = "## Bake\n\n6. Bake. Preheat the oven to 250 degrees. Cool the loaf."
    chosen = ExtractiveAnswerer().select("bake oven", [source(1, text, title="Loaf")])
    assert [t for _, t in chosen][0] == "Preheat the oven to 250 degrees."
    assert all(t not in {"## Bake", "6.", "Bake."} for _, t in chosen)


def test_a_relevance_floor_drops_sentences_that_only_share_words() -> None:
    text = "Ada was born on 10 December 1815. Her children were born in 1836 and 1837."
    scores = {"Ada: Ada was born on 10 December 1815.": 0.9}

    def relevance(question: str, texts: list[str]) -> list[float]:
        return [scores.get(t, 0.5) for t in texts]  # the second is far from the question

    chosen = ExtractiveAnswerer().select(
        "When was Ada born?", [source(1, text, title="Ada")], relevance=relevance
    )
    assert chosen == [(1, "Ada was born on 10 December 1815.")]


def test_sentences_of_a_passage_keep_their_order() -> None:
    text = "Preheat the oven to 250 degrees. Then bake the loaf in the oven at 230 degrees."

    def relevance(question: str, texts: list[str]) -> list[float]:
        return [0.8, 0.9]  # the second matches better, yet the recipe's order is kept

    chosen = ExtractiveAnswerer().select(
        "oven degrees", [source(1, text, title="Loaf")], relevance=relevance
    )
    assert [t for _, t in chosen] == [
        "Preheat the oven to 250 degrees.",
        "Then bake the loaf in the oven at 230 degrees.",
    ]


@pytest.mark.parametrize(
    ("option", "value"), [("max_sentences", 0), ("per_passage", 0), ("floor", 1.5)]
)
def test_invalid_options_are_rejected_by_name(option: str, value: float) -> None:
    with pytest.raises(ValueError, match=option):
        ExtractiveAnswerer(**{option: value})


def test_a_last_line_without_a_full_stop_is_a_statement_not_a_heading() -> None:
    text = "# Quokkas\n\nThe quokka Percival lives on Rottnest"  # an upload, as a user typed it
    chosen = ExtractiveAnswerer().select("Where does Percival live?", [source(1, text, "Quokkas")])
    assert chosen == [(1, "The quokka Percival lives on Rottnest")]
