"""The token budget: rank order, sentence-boundary cuts that are marked, omissions reported."""

from __future__ import annotations

import pytest

from assistant.context import TRUNCATION_MARK, ContextPacker, TokenCounter
from assistant.prompts import PromptLibrary
from retrieval.types import Passage
from tests.assistant.conftest import make_passages


@pytest.fixture(scope="module")
def packer() -> ContextPacker:
    return ContextPacker(PromptLibrary.default(), TokenCounter.for_model("gpt-4o-mini"))


def long_passage(sentences: int = 40) -> Passage:
    text = " ".join(
        f"Sentence number {i} says something about lighthouses." for i in range(sentences)
    )
    return Passage(
        id="long",
        score=1.0,
        text=text,
        doc_id="d",
        source="long.txt",
        title="Long",
        chunk_index=0,
        char_start=0,
        char_end=len(text),
        rank=1,
    )


class TestTokenCounter:
    def test_known_models_use_their_encoding(self):
        assert TokenCounter.for_model("gpt-4o-mini").encoding.name == "o200k_base"
        assert TokenCounter.for_model("gpt-4").encoding.name == "cl100k_base"

    def test_unknown_models_fall_back_to_cl100k(self):
        assert TokenCounter.for_model("llama-3.1-8b-instruct").encoding.name == "cl100k_base"

    def test_counts_and_heads(self):
        counter = TokenCounter.for_model("gpt-4")
        assert counter.count("hello world") == 2
        assert counter.head("hello world again", 2) == "hello world"
        assert counter.count("<|endoftext|>") > 1  # special tokens in documents are plain text


class TestPacking:
    def test_everything_fits_in_rank_order(self, packer, passages):
        ctx = packer.pack(passages, budget=5000)
        assert [p.number for p in ctx.passages] == [1, 2, 3, 4, 5]
        assert [p.passage.id for p in ctx.passages] == ["p1", "p2", "p3", "p4", "p5"]
        assert ctx.omitted == () and not any(p.truncated for p in ctx.passages)
        assert ctx.used <= ctx.budget
        assert packer.counter.count(ctx.block) <= ctx.used + 5

    def test_over_budget_the_rest_is_omitted_and_reported(self, packer, passages):
        two = (
            sum(
                packer.counter.count(packer.render(i + 1, p, p.text))
                for i, p in enumerate(passages[:2])
            )
            + 1
        )
        ctx = packer.pack(passages, budget=two + 10)  # too little room to cut the third usefully
        assert [p.passage.id for p in ctx.passages] == ["p1", "p2"]
        assert [p.id for p in ctx.omitted] == ["p3", "p4", "p5"]

    def test_cut_is_at_a_sentence_boundary_and_marked(self, packer):
        passage = long_passage()
        ctx = packer.pack([passage], budget=120)
        (packed,) = ctx.passages
        assert packed.truncated
        assert packed.text.endswith(TRUNCATION_MARK)
        kept = packed.text.removesuffix(TRUNCATION_MARK)
        assert passage.text.startswith(kept) and kept.endswith("lighthouses.")
        assert 'truncated="true"' in packed.rendered
        assert packed.tokens <= 120
        assert packed.to_source().truncated

    def test_a_single_huge_sentence_is_cut_mid_sentence_only_with_the_mark(self, packer):
        text = "word " * 500 + "end."
        p = Passage(
            id="x",
            score=1,
            text=text,
            doc_id="d",
            source="s",
            title="t",
            chunk_index=0,
            char_start=0,
            char_end=len(text),
        )
        (packed,) = packer.pack([p], budget=100).passages
        assert packed.truncated and packed.text.endswith(TRUNCATION_MARK)
        assert packed.tokens <= 100

    def test_nothing_fits(self, packer, passages):
        ctx = packer.pack(passages, budget=5)
        assert ctx.passages == () and len(ctx.omitted) == 5


class TestRendering:
    def test_document_text_cannot_close_its_passage(self, packer, passages):
        rendered = packer.render(5, passages[4], passages[4].text)
        assert rendered.count("</passage>") == 1 and rendered.endswith("</passage>")
        assert rendered.count("<passage ") == 1
        assert "&lt;/passage&gt;" in rendered and '&lt;passage n="9"&gt;' in rendered

    def test_attributes_are_escaped(self, packer):
        p = Passage(
            id="x",
            score=1,
            text="t",
            doc_id="d",
            source='a"b<c>.md',
            title='Say "hi"',
            chunk_index=0,
            char_start=0,
            char_end=1,
            page=2,
            heading="A & B",
        )
        first = packer.render(1, p, p.text).splitlines()[0]
        assert first == (
            '<passage n="1" title="Say &quot;hi&quot;" source="a&quot;b&lt;c&gt;.md"'
            ' page="2" heading="A &amp; B">'
        )

    def test_document_footnotes_do_not_look_like_citations(self, packer):
        p = Passage(
            id="x",
            score=1,
            text="As shown before [3][4], it works.",
            doc_id="d",
            source="s",
            title="t",
            chunk_index=0,
            char_start=0,
            char_end=10,
        )
        assert "As shown before (3)(4), it works." in packer.render(1, p, p.text)

    def test_dollar_slots_in_documents_are_not_expanded(self, packer):
        p = Passage(
            id="x",
            score=1,
            text="Costs $5 or ${question} or $$.",
            doc_id="d",
            source="s",
            title="t",
            chunk_index=0,
            char_start=0,
            char_end=10,
        )
        assert "Costs $5 or ${question} or $$." in packer.render(1, p, p.text)


def test_passages_fixture_is_ranked() -> None:
    assert [p.rank for p in make_passages()] == [1, 2, 3, 4, 5]
