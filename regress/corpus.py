"""The documents a suite runs against, in a collection of its own.

A suite that lists `documents:` gets the collection `regress-<suite name>`, so it neither depends
on nor touches the team's working index. Sources are named from the suite's `documents:`
entries (`documents: [../docs]` → `docs/ada_lovelace.md`), not from the current directory the
way `msrag ingest` names them: goldens and `must_cite` then mean the same on every machine and
from every working directory.

>>> corpus_source(Path("/repo/examples/docs"), Path("/repo/examples/docs/ada.md"))
'docs/ada.md'
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from regress.errors import CorpusError
from regress.settings import RegressSettings
from retrieval.ingest.chunking import chunk_document
from retrieval.ingest.loaders import SUPPORTED_SUFFIXES, LoadError, doc_id_for, load, read_file
from retrieval.ingest.pipeline import DocumentEncoder, ingest_chunks
from retrieval.stores.base import Store
from retrieval.types import Chunk, Filter


def corpus_source(entry: Path, path: Path) -> str:
    """The source name of `path`, found under the suite's `documents:` entry `entry`."""
    if path == entry:
        return entry.name
    return f"{entry.name}/{path.relative_to(entry).as_posix()}"


def corpus_files(entries: list[Path]) -> list[tuple[Path, str]]:
    """(file, source name) for every supported, non-hidden file under the entries, sorted."""
    files: list[tuple[Path, str]] = []
    for entry in entries:
        if entry.is_dir():
            for child in sorted(entry.rglob("*")):
                relative = child.relative_to(entry)
                if (
                    child.is_file()
                    and not any(p.startswith(".") for p in relative.parts)
                    and (child.suffix.lower() in SUPPORTED_SUFFIXES)
                ):
                    files.append((child, corpus_source(entry, child)))
        elif entry.is_file():
            files.append((entry, corpus_source(entry, entry)))
        else:
            raise CorpusError(
                f"The suite's document path {entry} does not exist: fix `documents:` in the case "
                f"file (paths are relative to the case file)."
            )
    if not files:
        raise CorpusError(
            f"The suite's `documents:` ({', '.join(map(str, entries))}) hold no supported files "
            f"({', '.join(sorted(SUPPORTED_SUFFIXES))})."
        )
    return files


def corpus_chunks(entries: list[Path], settings: RegressSettings) -> list[Chunk]:
    chunks: list[Chunk] = []
    for path, source in corpus_files(entries):
        try:
            doc = load(path, data=read_file(path, max_mb=settings.max_file_mb))
        except LoadError as exc:
            raise CorpusError(f"The suite document {path} cannot be loaded: {exc}") from None
        doc = replace(doc, source=source, doc_id=doc_id_for(source))
        chunks.extend(chunk_document(doc, settings.chunk_tokens, settings.chunk_overlap))
    return chunks


def sync_corpus(chunks: list[Chunk], store: Store, encoders: DocumentEncoder) -> int:
    """Make the store hold exactly `chunks`; returns how many were (re)written (0: unchanged).

    Chunk ids hash the source, position and text, so equal id sets mean equal content.
    """
    stored = dict(store.scroll_payloads(["source"]))
    if set(stored) == {c.id for c in chunks}:
        return 0
    sources = sorted({str(p.get("source")) for p in stored.values() if p.get("source")})
    if sources:
        store.delete(Filter(must={"source": sources}))
    ingest_chunks(chunks, store, encoders, progress=False)
    store.optimize()
    return len(chunks)


def corpus_settings(settings: RegressSettings, suite_name: str) -> RegressSettings:
    """`settings` pointed at the suite's own collection."""
    return settings.model_copy(update={"collection": f"regress-{suite_name}"})
