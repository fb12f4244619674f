"""The extractive answerer's sentence rules, on passages written for each rule (no models)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.extractive import ExtractiveAnswerer
from assistant.types import Source
from retrieval.ingest.loaders import load


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


# a heading as a bare line of its own (a PDF's; HTML headings are loaded as "## Sencha")
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


# A Sphinx FAQ page (markup written for this test): numbered headings that are questions.
FAQ_PAGE = """<html><head><title>Programming FAQ</title></head><body><div class="body">
<h1><span class="section-number">4. </span>Programming FAQ<a class="headerlink"
  href="#faq">¶</a></h1>
<h2><span class="section-number">4.1. </span>How do I join a list of strings?<a
  class="headerlink" href="#join">¶</a></h2>
<p>Call the join method of the separator string with the list as its argument.</p>
<h2><span class="section-number">4.2. </span>How do I split a string into a list?<a
  class="headerlink" href="#split">¶</a></h2>
<p>Call the split method of the string, which breaks it at whitespace by default.</p>
</div></body></html>"""


def test_loaded_html_headings_are_never_quoted_even_when_they_are_questions(
    tmp_path: Path,
) -> None:
    page = tmp_path / "programming.html"
    page.write_text(FAQ_PAGE, encoding="utf-8")
    text = load(page).text

    def relevance(question: str, texts: list[str]) -> list[float]:
        # the heading repeats the question word for word: the best match there could be
        return [1.0 if "How do I join" in t else 0.5 for t in texts]

    chosen = ExtractiveAnswerer().select(
        "How do I join a list of strings?",
        [source(1, text, title="Programming FAQ")],
        relevance=relevance,
    )
    texts = [t for _, t in chosen]
    assert texts[0] == "Call the join method of the separator string with the list as its argument."
    assert not any("How do I" in t or t.startswith(("#", "4.")) for t in texts)
