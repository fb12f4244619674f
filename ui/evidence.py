"""Which sentences of a passage an answer used: what the sources panel highlights.

The assistant tells us which answer sentences cite a source (`Source.sentences`). An extractive
answer copies passage sentences verbatim; an LLM answer paraphrases them. For each citing answer
sentence we mark the passage sentence that shares the most of its content words (stemmed,
stopwords dropped — the same terms the extractive answerer ranks with), when it shares enough.

>>> used_spans("Ada was born in 1815. She wrote notes.", ["Ada Lovelace was born in 1815."])
[(0, 21)]
"""

from __future__ import annotations

from collections.abc import Iterable

from assistant.citations import strip_markers
from assistant.extractive import terms
from assistant.sentences import split, split_spans

# Share of an answer sentence's content words a passage sentence must hold to count as its basis.
MIN_OVERLAP = 0.5


def used_spans(passage: str, answer_sentences: Iterable[str]) -> list[tuple[int, int]]:
    """Character spans of the passage sentences the answer sentences are based on."""
    spans = split_spans(passage)
    sentence_terms = [set(terms(passage[a:b])) for a, b in spans]
    used: set[tuple[int, int]] = set()
    for plain in _pieces(answer_sentences):
        verbatim = passage.find(plain)
        if verbatim >= 0:
            used.update(s for s in spans if s[0] < verbatim + len(plain) and s[1] > verbatim)
            continue
        wanted = set(terms(plain))
        if not wanted:
            continue
        scored = [
            (len(wanted & have) / len(wanted), span)
            for have, span in zip(sentence_terms, spans, strict=True)
        ]
        score, span = max(scored, default=(0.0, (0, 0)))
        if score >= MIN_OVERLAP:
            used.add(span)
    return sorted(used)


def _pieces(answer_sentences: Iterable[str]) -> list[str]:
    """Answer sentences cut finer: one per line, bullet marks dropped, then by sentence (a
    bulleted extractive answer reaches us as one 'sentence' spanning several bullets)."""
    pieces: list[str] = []
    for sentence in answer_sentences:
        for line in strip_markers(sentence).splitlines():
            line = line.strip().lstrip("-*•–").strip()
            pieces.extend(p for p in split(line) if p)
    return pieces
