"""Sentence boundaries, shared by the token budget, the extractive answer and citation mapping.

A small rule-based splitter: good enough for English prose and scientific abstracts, and fast
(it runs on every packed passage). It keeps offsets so callers can cut text without losing them.
"""

from __future__ import annotations

import re

# A sentence ends at . ! ? (optionally followed by closing quotes/brackets and citation markers)
# when whitespace and an uppercase letter, digit, quote or bracket follow; or at a blank line.
_BOUNDARY = re.compile(
    r"""(?<=[.!?])["'”’)\]]*(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])*\s+(?=["'“‘(\[]?[A-Z0-9])|\n\s*\n"""
)
# A Markdown ATX heading line, as `retrieval.ingest.loaders` recognises one (and writes for HTML).
_HEADING_LINE = re.compile(r"^ {0,3}#{1,6}[ \t]+\S[^\n]*$", re.MULTILINE)
# Abbreviations whose trailing period does not end a sentence.
_ABBREVIATIONS = frozenset(
    {"e.g", "i.e", "et", "al", "etc", "vs", "cf", "fig", "figs", "eq", "no", "dr", "mr", "mrs"}
    | {"ms", "prof", "st", "jr", "sr", "approx", "ca", "resp"}
)


def split_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each sentence in `text`, whitespace between them excluded.

    A Markdown heading line (what the loaders make of HTML headings too) is one sentence of its
    own, whatever it holds: "## 3.1. How do I join strings?" must not become "## 3.1." and a
    question that reads like an answer.

    >>> t = "Ada was born in 1815. She died in 1852."
    >>> [t[a:b] for a, b in split_spans(t)]
    ['Ada was born in 1815.', 'She died in 1852.']
    >>> t = "## 3.1. Join strings?\\nUse str.join(). It is fast."
    >>> [t[a:b] for a, b in split_spans(t)]
    ['## 3.1. Join strings?', 'Use str.join().', 'It is fast.']
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _HEADING_LINE.finditer(text):
        spans.extend(_prose_spans(text, start, m.start()))
        _append(spans, text, m.start(), m.end())
        start = m.end()
    spans.extend(_prose_spans(text, start, len(text)))
    return spans


def _prose_spans(text: str, begin: int, stop: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = begin
    for m in _BOUNDARY.finditer(text, begin, stop):
        end = m.start()
        if _ends_with_abbreviation(text[start:end]):
            continue
        # a boundary absorbs trailing quotes/markers: keep them with the sentence they close
        head = m.group(0)
        keep = len(head) - len(head.lstrip("\"'”’)]"))
        marker = re.match(r"(?:[\"'”’)\]]*\s*\[\d+(?:\s*[,;]\s*\d+)*\])+", head)
        if marker:
            keep = marker.end()
        _append(spans, text, start, end + keep)
        start = m.end()
    _append(spans, text, start, stop)
    return spans


def split(text: str) -> list[str]:
    """The sentences of `text`, stripped."""
    return [text[a:b] for a, b in split_spans(text)]


def _append(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


def _ends_with_abbreviation(sentence: str) -> bool:
    if not sentence.endswith("."):
        return False
    word = re.split(r"[\s(]", sentence[:-1])[-1].lower()
    # single letters ("J. Smith") and known abbreviations do not end a sentence
    return len(word) == 1 and word.isalpha() or word in _ABBREVIATIONS
