"""MaxSim alignment from the real offline late-interaction encoder."""

from __future__ import annotations

import pytest

from retrieval.alignment import align, maxsim
from retrieval.encoders import Encoders

PASSAGE = (
    "Ada Lovelace, born in London in 1815, wrote the first published algorithm for "
    "Charles Babbage's Analytical Engine. She is often called the first computer programmer."
)


class TestAlign:
    def test_verbatim_terms_point_at_their_words(self, encoders: Encoders) -> None:
        matches = align(encoders, "Lovelace Analytical Engine programmer", PASSAGE)
        matched = {m.query_token: PASSAGE[m.start : m.end] for m in matches}
        # WordPiece splits "Lovelace" into love + ##lace; each piece finds its own piece
        assert matched["love"] == "Love" and matched["##lace"] == "lace"
        assert matched["analytical"] == "Analytical"
        assert matched["engine"] == "Engine"
        assert matched["programmer"] == "programmer"
        for m in matches:
            if m.query_token in ("analytical", "engine", "programmer"):
                assert m.score > 0.7

    def test_scores_sum_to_the_maxsim_score_that_ranked_the_passage(
        self, encoders: Encoders
    ) -> None:
        query = "When was Ada Lovelace born, and where?"
        matches = align(encoders, query, PASSAGE)
        q = encoders.encode_query(query).colbert
        d = encoders.encode_documents([PASSAGE])[0].colbert
        assert q is not None and d is not None
        assert len(matches) == len(q)  # one match per query token, specials included
        assert sum(m.score for m in matches) == pytest.approx(maxsim(q, d), abs=1e-4)

    def test_punctuation_is_never_a_match_as_fastembed_drops_it(self, encoders: Encoders) -> None:
        text = "cats, dogs; birds! fish?"
        matches = align(encoders, "dogs , ; !", text)
        spans = {text[m.start : m.end] for m in matches}
        assert "dogs" in spans
        assert not spans & {",", ";", "!", "?"}

    def test_special_tokens_have_empty_spans_and_words_do_not(self, encoders: Encoders) -> None:
        matches = align(encoders, "Babbage", PASSAGE)
        assert matches[0].query_token == "[CLS]" and matches[-1].query_token == "[SEP]"
        word = [m for m in matches if m.query_token not in ("[CLS]", "[SEP]")]
        assert word and all(m.end > m.start for m in word)
        assert "Babbage" in PASSAGE[min(m.start for m in word) : max(m.end for m in word)]

    def test_text_beyond_truncation_cannot_match(self, encoders: Encoders) -> None:
        filler = "lorem ipsum dolor " * 400  # far past the model's 512-token window
        text = filler + "zeppelin"
        matches = align(encoders, "zeppelin", text)
        assert all(m.end <= len(filler) for m in matches)
