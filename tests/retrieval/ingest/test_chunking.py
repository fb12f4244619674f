"""Chunking: exact offsets, the token budget, overlap, sentence/paragraph/heading boundaries."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from retrieval.ingest.chunking import chunk_document, chunk_id, count_tokens, version_hash
from retrieval.ingest.loaders import Document, Section, doc_id_for, file_digest, load
from retrieval.types import Chunk
from tests.conftest import DEMO_DOCS

DEMO_FILES = sorted(p for p in DEMO_DOCS.iterdir() if p.is_file())


def make_doc(text: str, sections: tuple[Section, ...] = (), source: str = "doc.txt") -> Document:
    return Document(
        source=source,
        doc_id=doc_id_for(source),
        title="Doc",
        text=text,
        content_hash=file_digest(text.encode()),
        sections=sections,
    )


def prose(sentences: int, seed: str = "") -> str:
    """Distinct, countable sentences of 8-12 tokens each."""
    return " ".join(
        f"Sentence {seed}{i} tells about item number {i * 7} in the list." for i in range(sentences)
    )


def check_invariants(doc: Document, chunks: list[Chunk], budget: int) -> None:
    assert chunks, "a document with text has at least one chunk"
    for i, c in enumerate(chunks):
        assert doc.text[c.char_start : c.char_end] == c.text
        assert c.text == c.text.strip() and c.text
        assert count_tokens(c.text) <= budget, (i, count_tokens(c.text))
        assert c.chunk_index == i and c.chunk_count == len(chunks)
        assert (c.doc_id, c.source, c.title) == (doc.doc_id, doc.source, doc.title)
        assert str(uuid.UUID(c.id)) == c.id
    starts = [c.char_start for c in chunks]
    assert starts == sorted(set(starts)), "chunks move forward"
    # Nothing is lost: every non-space character is inside some chunk.
    covered = bytearray(len(doc.text))
    for c in chunks:
        covered[c.char_start : c.char_end] = b"\x01" * (c.char_end - c.char_start)
    lost = [i for i, ch in enumerate(doc.text) if not ch.isspace() and not covered[i]]
    assert not lost, doc.text[lost[0] : lost[0] + 40]


class TestArguments:
    @pytest.mark.parametrize(("tokens", "overlap"), [(0, 0), (16, 16), (16, -1), (16, 40)])
    def test_invalid_budget_or_overlap(self, tokens: int, overlap: int) -> None:
        with pytest.raises(ValueError, match="chunk_tokens|overlap"):
            chunk_document(make_doc("Some text."), tokens, overlap)


class TestInvariants:
    @pytest.mark.parametrize("path", DEMO_FILES, ids=lambda p: p.name)
    @pytest.mark.parametrize(("budget", "overlap"), [(256, 32), (64, 16), (16, 4), (24, 0)])
    def test_demo_corpus(self, path: Path, budget: int, overlap: int) -> None:
        doc = load(path)
        check_invariants(doc, chunk_document(doc, budget, overlap), budget)

    def test_text_without_any_boundary_is_cut_between_words(self) -> None:
        words = [f"word{i}" for i in range(400)]
        doc = make_doc(" ".join(words))
        chunks = chunk_document(doc, 50, 10)
        check_invariants(doc, chunks, 50)
        assert len(chunks) > 5
        for c in chunks:  # cut at spaces: every chunk is whole words
            assert set(c.text.split()) <= set(words)

    def test_one_unbreakable_token_run_and_multibyte_text(self) -> None:
        doc = make_doc("x" * 3000 + "\n\n" + "日本語のテキストです。" * 200 + " emoji 🎉🎉🎉 end.")
        chunks = chunk_document(doc, 32, 8)
        check_invariants(doc, chunks, 32)

    def test_special_token_text_is_plain_text(self) -> None:
        doc = make_doc("Before <|endoftext|> after. " * 3)
        check_invariants(doc, chunk_document(doc, 16, 4), 16)

    def test_small_document_is_one_chunk(self) -> None:
        doc = make_doc("  Just one short line.  \n")
        (chunk,) = chunk_document(doc, 256, 32)
        assert chunk.text == "Just one short line."
        assert (chunk.char_start, chunk.char_end) == (2, 22)


class TestBoundariesAndOverlap:
    def test_chunks_end_at_sentence_ends(self) -> None:
        doc = make_doc(prose(60))
        chunks = chunk_document(doc, 64, 16)
        assert len(chunks) > 5
        assert all(c.text.endswith("in the list.") for c in chunks)
        assert all(c.text.startswith("Sentence ") for c in chunks)

    def test_overlap_repeats_whole_trailing_sentences_within_the_budget(self) -> None:
        doc = make_doc(prose(60))
        chunks = chunk_document(doc, 64, 16)
        for prev, nxt in zip(chunks, chunks[1:], strict=False):
            assert nxt.char_start < prev.char_end, "consecutive chunks overlap"
            shared = doc.text[nxt.char_start : prev.char_end]
            assert re.fullmatch(r"(Sentence \d+ [^.]*\.\s?)+", shared), shared
            assert count_tokens(shared) <= 16 + 1

    def test_no_overlap_when_zero(self) -> None:
        doc = make_doc(prose(60))
        chunks = chunk_document(doc, 64, 0)
        for prev, nxt in zip(chunks, chunks[1:], strict=False):
            assert nxt.char_start > prev.char_end

    def test_paragraph_end_is_preferred_over_filling_the_budget(self) -> None:
        first = prose(4, "a")  # ~50 tokens: more than half of the budget
        second = prose(6, "b")
        doc = make_doc(first + "\n\n" + second)
        chunks = chunk_document(doc, 80, 0)
        assert chunks[0].text == first

    def test_a_heading_starts_a_chunk_and_never_ends_one(self, tmp_path: Path) -> None:
        sections_text = [f"## Part {n}\n\n{prose(5, str(n))}" for n in range(6)]
        text = "# Title\n\n" + "\n\n".join(sections_text)
        path = tmp_path / "parts.md"
        path.write_text(text)
        doc = load(path)
        chunks = chunk_document(doc, 80, 16)
        check_invariants(doc, chunks, 80)
        for c in chunks:
            assert not re.search(r"\n#+ [^\n]*$", c.text), c.text[-40:]
        starts = {c.text.split("\n", 1)[0] for c in chunks}
        assert {f"## Part {n}" for n in range(1, 6)} <= starts
        # No overlap carried across a heading: the section's chunk starts at its heading.
        part3 = next(c for c in chunks if c.text.startswith("## Part 3"))
        assert part3.heading == "Part 3"

    def test_chunk_heading_and_page_are_those_at_its_start(self) -> None:
        text = "Page one text. " * 30 + "\n\n" + "Page two text. " * 30
        p2 = text.index("Page two")
        doc = make_doc(text, sections=(Section(0, page=1), Section(p2, page=2)))
        chunks = chunk_document(doc, 40, 0)
        assert [c.page for c in chunks] == [1 if c.char_start < p2 else 2 for c in chunks]
        assert {c.page for c in chunks} == {1, 2}


class TestIdentity:
    def test_deterministic(self) -> None:
        doc = load(DEMO_DOCS / "ada_lovelace.md")
        assert chunk_document(doc, 64, 16) == chunk_document(doc, 64, 16)

    def test_ids_depend_on_source_index_and_text(self) -> None:
        base = chunk_id("a.md", 0, "text")
        assert base == chunk_id("a.md", 0, "text")
        assert (
            len(
                {
                    base,
                    chunk_id("b.md", 0, "text"),
                    chunk_id("a.md", 1, "text"),
                    chunk_id("a.md", 0, "text!"),
                }
            )
            == 4
        )

    def test_editing_the_end_keeps_the_ids_of_unchanged_leading_chunks(self) -> None:
        text = prose(40)
        before = chunk_document(make_doc(text), 64, 0)
        after = chunk_document(make_doc(text + " One more sentence at the end."), 64, 0)
        assert [c.id for c in before[:-1]] == [c.id for c in after[: len(before) - 1]]
        assert before[-1].id != after[-1].id
        assert before[0].file_hash != after[0].file_hash

    def test_file_hash_covers_content_and_chunking_parameters(self) -> None:
        doc = make_doc(prose(10))
        chunks = chunk_document(doc, 64, 16)
        assert {c.file_hash for c in chunks} == {version_hash(doc.content_hash, 64, 16)}
        assert version_hash(doc.content_hash, 64, 16) != version_hash(doc.content_hash, 128, 16)
        assert version_hash(doc.content_hash, 64, 16) != version_hash(doc.content_hash, 64, 8)
