"""The answer without a language model: the most relevant sentences of the top passages, cited.

Sentences are scored with BM25 over the sentences of the packed passages (stemmed, stopwords
dropped), so a sentence that shares the question's rare words wins over one that shares only
common ones. Each sentence is scored together with its passage's title: "She was born in 1815"
then matches "When was Ada Lovelace born?" on "born" while "Ada Lovelace" — now in every
sentence — stops deciding. It costs well under a millisecond, needs no model and is
deterministic; re-encoding sentences with the dense model was tried and does worse here, since
a sentence that says "she" instead of the name is far from the question in embedding space.

>>> from assistant.types import Source
>>> s = Source(number=1, passage_id="p", doc_id="ada", title="Ada Lovelace", source="ada.md",
...            page=None, heading=None, char_start=0, char_end=60, score=1.0, rank=1,
...            text="Ada Lovelace was a mathematician. She was born in London in 1815.")
>>> ExtractiveAnswerer().select("When was Ada Lovelace born?", [s], limit=1)
[(1, 'She was born in London in 1815.')]
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from assistant import sentences
from assistant.citations import strip_markers
from assistant.types import Source

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_HEADING = re.compile(r"\s*#{1,6}\s")
_K1, _B = 1.2, 0.75


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    # llama-index-core ships NLTK's stopword lists (a dependency we already have, offline).
    try:
        import llama_index.core as li

        path = Path(li.__file__).parent / "_static/nltk_cache/corpora/stopwords/english"
        return frozenset(path.read_text(encoding="utf-8").split())
    except (ImportError, OSError):  # pragma: no cover - both ship with our dependencies
        return frozenset()


@lru_cache(maxsize=1)
def _stemmer() -> Any:  # py_rust_stemmers has no type information
    try:
        import py_rust_stemmers  # fastembed's own stemmer (its BM25 uses it)

        return py_rust_stemmers.SnowballStemmer("english")
    except ImportError:  # pragma: no cover
        return None


def terms(text: str) -> list[str]:
    """Lower-cased, stopword-free, stemmed words."""
    stop = _stopwords()
    words = [w for w in _WORD.findall(text.lower()) if w not in stop]
    stemmer = _stemmer()
    return stemmer.stem_words(words) if stemmer is not None and words else words


class ExtractiveAnswerer:
    """Picks answer sentences from numbered passages.

    `max_sentences` sentences in all, at most `per_passage` from one passage; a small bonus for
    higher-ranked passages breaks ties in the retriever's favour.
    """

    def __init__(self, max_sentences: int = 3, per_passage: int = 2, rank_bonus: float = 0.1):
        if max_sentences <= 0:
            raise ValueError(f"max_sentences must be > 0; got {max_sentences}")
        if per_passage <= 0:
            raise ValueError(f"per_passage must be > 0; got {per_passage}")
        self.max_sentences = max_sentences
        self.per_passage = per_passage
        self.rank_bonus = rank_bonus

    def select(
        self, question: str, sources: Sequence[Source], limit: int | None = None
    ) -> list[tuple[int, str]]:
        """(source number, sentence) pairs, best first; `sources` best first."""
        limit = limit or self.max_sentences
        candidates: list[tuple[int, int, str, list[str]]] = []  # (number, position, text, terms)
        for source in sources:
            title = terms(source.title)
            for position, sentence in enumerate(sentences.split(source.text)):
                if sentence.endswith("[…]"):
                    continue  # the cut end of a truncated passage: not a whole sentence
                if _HEADING.match(sentence):
                    continue  # a Markdown heading is a label, not a statement to quote
                candidates.append((source.number, position, sentence, title + terms(sentence)))
        if not candidates:
            return []
        query = set(terms(question))
        n = len(candidates)
        df = Counter(t for *_, ts in candidates for t in set(ts))
        avg_len = sum(len(ts) for *_, ts in candidates) / n or 1.0
        order = {source.number: i for i, source in enumerate(sources)}
        scored = []
        for number, position, sentence, ts in candidates:
            tf = Counter(ts)
            score = 0.0
            for term in query & tf.keys():
                idf = math.log((n - df[term] + 0.5) / (df[term] + 0.5) + 1)
                # within one sentence a repeated word is not more evidence ("born 1836 …
                # born 1837 … born 1839" must not beat "was born on 10 December 1815")
                f = 1
                score += idf * f * (_K1 + 1) / (f + _K1 * (1 - _B + _B * len(ts) / avg_len))
            # equal evidence: prefer the higher-ranked passage, then the earlier sentence
            score *= 1 + self.rank_bonus / (1 + order[number])
            scored.append((score, -order[number], -position, number, sentence))
        scored.sort(reverse=True)
        chosen: list[tuple[int, str]] = []
        per: Counter[int] = Counter()
        for score, *_, number, sentence in scored:
            if score <= 0 or per[number] >= self.per_passage:
                continue
            chosen.append((number, sentence))
            per[number] += 1
            if len(chosen) == limit:
                break
        if not chosen:
            # no word in common: the top passage's opening is the retriever's best guess
            number, _, sentence, _ = candidates[0]
            chosen = [(number, sentence)]
        return chosen

    def compose(self, label: str, chosen: Sequence[tuple[int, str]]) -> str:
        """The answer text: the label, then one quoted sentence per line with its citation."""
        lines = [label.strip(), ""]
        for number, sentence in chosen:
            # a document's own footnote markers ("[12]") must not read as our citations
            lines.append(f"- {' '.join(strip_markers(sentence).split())} [{number}]")
        return "\n".join(lines)
