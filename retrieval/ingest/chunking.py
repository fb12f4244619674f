"""Document → token-aware chunks that end at paragraph or sentence boundaries, with overlap.

Token counts are tiktoken `cl100k_base` (what the LLM context budget is measured in). Every chunk
is an exact slice of the document text: `doc.text[c.char_start:c.char_end] == c.text`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import tiktoken

from retrieval.ingest.loaders import Document
from retrieval.types import Chunk

ENCODING = "cl100k_base"
# Bump when loading or chunking changes what a file turns into: stored versions then re-index.
CHUNKER_VERSION = 2  # 2: HTML without page furniture, headings as "#" lines
_CHUNK_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/multistage-rag/chunk")


_encoding_lock = threading.Lock()


@functools.cache
def load_encoding(name: str) -> tiktoken.Encoding:
    """A tiktoken encoding, loaded offline from the BPE files llama-index-core ships
    (cl100k_base, o200k_base); tiktoken would otherwise download them on first use.

    tiktoken reads its cache location from TIKTOKEN_CACHE_DIR only. Like llama-index's own
    get_tokenizer, point it at the bundled files for the load (unless the user set a cache
    themselves) and restore the environment afterwards; a lock keeps threads from racing.
    """
    import llama_index.core

    cache = Path(llama_index.core.__file__).parent / "_static" / "tiktoken_cache"
    with _encoding_lock:
        borrowed = "TIKTOKEN_CACHE_DIR" not in os.environ and cache.is_dir()
        if borrowed:
            os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
        try:
            return tiktoken.get_encoding(name)
        finally:
            if borrowed:
                os.environ.pop("TIKTOKEN_CACHE_DIR", None)


def encoding() -> tiktoken.Encoding:
    """The tokenizer chunks are measured with."""
    return load_encoding(ENCODING)


def count_tokens(text: str) -> int:
    # encode_ordinary: text that happens to contain "<|endoftext|>" is text, not a control token.
    return len(encoding().encode_ordinary(text))


def version_hash(content_hash: str, chunk_tokens: int, overlap: int) -> str:
    """The stored `file_hash`: file content + everything that decides its chunks.

    Changing the chunk size therefore re-indexes a file exactly like editing it does.
    """
    key = f"{content_hash}:{ENCODING}:{chunk_tokens}:{overlap}:v{CHUNKER_VERSION}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def chunk_id(source: str, chunk_index: int, text: str) -> str:
    """Stable point id: the same chunk of the same file always gets the same id."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return str(uuid.uuid5(_CHUNK_NAMESPACE, f"{source}\n{chunk_index}\n{digest}"))


@dataclass(frozen=True)
class _Unit:
    """A sentence (or a piece of an over-long one): the smallest thing a chunk is made of."""

    start: int
    end: int  # exclusive, trailing whitespace excluded
    tokens: int  # tokens of the unit including the whitespace that follows it
    paragraph_end: bool
    heading: bool = False  # a chunk never ends with one: it belongs to what follows


# A blank line ends a paragraph; so does a newline before a Markdown block (heading, list item,
# quote, table row) or after a heading line.
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*|\n(?=[ \t]*(?:#{1,6}\s|[-*+>|]\s|\d+[.)]\s))")
_HEADING_LINE = re.compile(r"^[ \t]*#{1,6}\s[^\n]*\n", re.M)
# A sentence ends at . ! ? (plus closing quotes/brackets) followed by whitespace.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")


def _boundaries(text: str) -> tuple[list[int], set[int]]:
    """Sorted cut positions and the subset that are paragraph ends."""
    paragraph = {m.start() for m in _PARAGRAPH_BREAK.finditer(text)}
    paragraph |= {m.end() - 1 for m in _HEADING_LINE.finditer(text)}
    sentence = {m.end() for m in _SENTENCE_END.finditer(text)}
    return sorted(paragraph | sentence | {len(text)}), paragraph


def _units(text: str, budget: int, heading_starts: frozenset[int]) -> list[_Unit]:
    cuts, paragraph_ends = _boundaries(text)
    spans: list[tuple[int, int, bool]] = []
    start = 0
    for cut in cuts:
        segment = text[start:cut]
        stripped = segment.strip()
        if stripped:
            s = start + (len(segment) - len(segment.lstrip()))
            spans.append((s, s + len(stripped), cut in paragraph_ends or cut == len(text)))
        start = cut
    if not spans:
        return []
    # Tokens of each unit with the whitespace after it: close to what it adds to a chunk.
    nexts = [s for s, _, _ in spans[1:]] + [len(text)]
    pieces = [text[s:n] for (s, _, _), n in zip(spans, nexts, strict=True)]
    counts = [len(t) for t in encoding().encode_ordinary_batch(pieces)]
    units: list[_Unit] = []
    for (s, e, para), n_tokens in zip(spans, counts, strict=True):
        if n_tokens <= budget:
            units.append(_Unit(s, e, n_tokens, para, heading=s in heading_starts))
        else:
            units.extend(_split_long(text, s, e, budget, para))
    return units


def _split_long(text: str, start: int, end: int, budget: int, paragraph_end: bool) -> list[_Unit]:
    """A sentence longer than the budget is cut at token boundaries (rare: tables, code, lists)."""
    enc = encoding()
    pieces: list[_Unit] = []
    pos = start
    while pos < end:
        tokens = enc.encode_ordinary(text[pos:end])
        if len(tokens) <= budget:
            cut = end
        else:
            cut = pos + _char_offset(enc.decode_tokens_bytes(tokens[:budget]))
            # Re-encoding a cut can differ by a token from the original split: shrink to fit.
            while cut > pos + 1 and count_tokens(text[pos:cut]) > budget:
                cut -= 1
            cut = max(cut, pos + 1)
            # Prefer a cut between words when one is reasonably close.
            space = text.rfind(" ", pos, cut)
            if space > pos and (space - pos) * 2 >= cut - pos:
                cut = space
        piece = text[pos:cut]
        s = pos + (len(piece) - len(piece.lstrip()))
        e = pos + len(piece.rstrip())
        if e > s:
            last = cut >= end
            pieces.append(_Unit(s, e, count_tokens(text[s:cut]), paragraph_end and last))
        pos = cut
    return pieces


def _char_offset(token_bytes: list[bytes]) -> int:
    """Characters fully covered by these tokens (a token may end inside a UTF-8 character)."""
    data = b"".join(token_bytes)
    return len(data.decode("utf-8", errors="ignore")) if data else 0


def chunk_document(doc: Document, chunk_tokens: int, overlap: int) -> list[Chunk]:
    """Split `doc` into chunks of at most `chunk_tokens` tokens, consecutive chunks sharing up to
    `overlap` tokens of whole trailing sentences.

        chunks = chunk_document(load("examples/docs/ada_lovelace.md"), 256, 32)
        all(doc.text[c.char_start:c.char_end] == c.text for c in chunks)
        # -> True
    """
    if chunk_tokens < 1:
        raise ValueError(f"chunk_tokens must be at least 1, got {chunk_tokens}.")
    if not 0 <= overlap < chunk_tokens:
        raise ValueError(f"overlap must be in [0, chunk_tokens), got {overlap} for {chunk_tokens}.")
    text = doc.text
    heading_starts = frozenset(s.char_start for s in doc.sections if s.heading)
    units = _units(text, chunk_tokens, heading_starts)
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j = _pack(units, i, chunk_tokens)
        # Exact check: the sum of unit counts is close to, but not always, the chunk's count.
        while j - i > 1 and count_tokens(text[units[i].start : units[j - 1].end]) > chunk_tokens:
            j -= 1
        while j < len(units) and j - i > 1 and units[j - 1].heading:
            j -= 1
        spans.append((units[i].start, units[j - 1].end))
        if j >= len(units):
            break
        i = _overlap_start(units, i, j, chunk_tokens, overlap)

    file_hash = version_hash(doc.content_hash, chunk_tokens, overlap)
    chunks: list[Chunk] = []
    for index, (start, end) in enumerate(spans):
        page, heading = doc.locate(start)
        chunk_text = text[start:end]
        chunks.append(
            Chunk(
                id=chunk_id(doc.source, index, chunk_text),
                doc_id=doc.doc_id,
                source=doc.source,
                title=doc.title,
                text=chunk_text,
                chunk_index=index,
                chunk_count=len(spans),
                char_start=start,
                char_end=end,
                file_hash=file_hash,
                page=page,
                heading=heading,
            )
        )
    return chunks


def _pack(units: list[_Unit], i: int, budget: int) -> int:
    """End (exclusive) of the chunk starting at unit i: as many units as fit, ending at a
    paragraph when one closes in the second half of the budget."""
    total = 0
    j = i
    while j < len(units) and total + units[j].tokens <= budget:
        total += units[j].tokens
        j += 1
    j = max(j, i + 1)  # every unit fits on its own (long ones were split)
    if j < len(units):
        running = 0
        best = None
        for k in range(i, j):
            running += units[k].tokens
            if units[k].paragraph_end and not units[k].heading and running * 2 >= budget:
                best = k + 1
        if best is not None:
            j = best
    return j


def _overlap_start(units: list[_Unit], i: int, j: int, budget: int, overlap: int) -> int:
    """First unit of the next chunk: trailing sentences of this one worth ≤ `overlap` tokens,
    but never so many that the next new sentence would not fit beside them, and none when the
    next chunk opens a new section (its heading already gives the context)."""
    if units[j].heading:
        return j
    k = j
    carried = 0
    while k - 1 > i and carried + units[k - 1].tokens <= overlap:
        carried += units[k - 1].tokens
        k -= 1
    while k < j and carried + units[j].tokens > budget:
        carried -= units[k].tokens
        k += 1
    return k
