"""The document library: what the store holds, document by document, read from payload indexes.

Every question here is answered by an index, never by reading every point: chunk counts per
document come from a facet over the `source` keyword index, one row per document from the
points with `chunk_index = 0` (integer index), a document's chunks from a `source` filter. The
Documents page and `msrag docs` run on it, and `msrag status` counts documents the same way.

The reading functions (`documents`, `document`, `document_count`, `chunks_of`) take the
caller's `access` (their groups, `retrieval/access.py`; None = unrestricted): the store applies
it in the same query, so a document the caller may not see is neither listed, counted nor opened
— it is "not stored" as far as they can tell.

`delete_document` and `reingest` are the unchecked, store-level changes: they take no caller and
write no audit entry. Who may change the library, and the record of it, is the admin service's
(`teams/admin.py`), which every page and command goes through.

    docs = documents(store)
    docs[0].source, docs[0].chunks, docs[0].pages
    # -> ('examples/docs/ada_lovelace.md', 3, None)
    [c.chunk_index for c in chunks_of(store, docs[0].source)]
    # -> [0, 1, 2]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval.access import payload_groups
from retrieval.errors import InvalidArgumentError, UnknownDocumentError
from retrieval.ingest.loaders import source_for
from retrieval.ingest.pipeline import DocumentEncoder, FileResult, ingest
from retrieval.ingest.settings import IngestSettings
from retrieval.stores.base import Store
from retrieval.types import DOCUMENT_FIELDS, Filter

_ROW_FIELDS = ["source", "title", "file_hash", "doc_id", "chunk_count", "groups", *DOCUMENT_FIELDS]
_CHUNK_FIELDS = ["chunk_index", "text", "page", "heading", "char_start", "char_end"]


@dataclass(frozen=True)
class DocumentInfo:
    """One stored document: a row of the Documents table and of `msrag docs list`."""

    source: str
    title: str
    chunks: int  # points stored for this source
    pages: int | None  # PDF pages; None for files without pages
    size_bytes: int | None  # None for documents ingested before sizes were recorded
    ingested_at: str | None  # ISO 8601 UTC; None likewise
    content_hash: str  # the stored `file_hash` (content + chunking settings)
    doc_id: str = ""
    groups: tuple[str, ...] = ()  # who may see it; empty = everyone


@dataclass(frozen=True)
class ChunkView:
    """One chunk of a document, as the Documents page shows it."""

    chunk_index: int
    text: str
    page: int | None
    heading: str | None
    char_start: int
    char_end: int

    @property
    def location(self) -> str:
        parts = [f"p. {self.page}"] if self.page is not None else []
        if self.heading:
            parts.append(self.heading)
        return " · ".join(parts)


def _for(access: tuple[str, ...] | None, filter: Filter | None = None) -> Filter | None:
    """`filter` (or none) restricted to what `access` may see."""
    if access is None:
        return filter
    return (filter or Filter()).restricted_to(access)


def document_count(store: Store, access: tuple[str, ...] | None = None) -> int:
    """Distinct documents (sources) in the store, from the `source` index."""
    return len(store.facet("source", _for(access)))


def documents(store: Store, access: tuple[str, ...] | None = None) -> list[DocumentInfo]:
    """Every stored document, by source. Two index reads, whatever the number of chunks."""
    counts = store.facet("source", _for(access))
    firsts: dict[str, dict[str, Any]] = {}
    first_chunks = _for(access, Filter(must={"chunk_index": 0}))
    for _, payload in store.scroll_payloads(_ROW_FIELDS, first_chunks):
        source = payload.get("source")
        # Mid-ingest a changed file has two versions: show the newer one.
        if isinstance(source, str) and (
            source not in firsts
            or str(payload.get("ingested_at") or "") > str(firsts[source].get("ingested_at") or "")
        ):
            firsts[source] = payload
    rows = []
    for source, chunks in counts.items():
        first = firsts.get(source, {})
        rows.append(
            DocumentInfo(
                source=source,
                title=str(first.get("title") or Path(source).name),
                chunks=chunks,
                pages=_int(first.get("page_count")),
                size_bytes=_int(first.get("size_bytes")),
                ingested_at=first.get("ingested_at"),
                content_hash=str(first.get("file_hash") or ""),
                doc_id=str(first.get("doc_id") or ""),
                groups=_groups(first),
            )
        )
    return sorted(rows, key=lambda d: d.source)


def document(store: Store, source: str, access: tuple[str, ...] | None = None) -> DocumentInfo:
    """The stored document `source` (`UnknownDocumentError` when there is none)."""
    counts = store.facet("source", _for(access, Filter(must={"source": source})))
    if not counts.get(source):
        raise UnknownDocumentError(_unknown(source))
    first = next(
        (p for _, p in store.scroll_payloads(_ROW_FIELDS, _for(access, _first_chunk(source)))),
        {},
    )
    return DocumentInfo(
        source=source,
        title=str(first.get("title") or Path(source).name),
        chunks=counts[source],
        pages=_int(first.get("page_count")),
        size_bytes=_int(first.get("size_bytes")),
        ingested_at=first.get("ingested_at"),
        content_hash=str(first.get("file_hash") or ""),
        doc_id=str(first.get("doc_id") or ""),
        groups=_groups(first),
    )


def chunks_of(store: Store, source: str, access: tuple[str, ...] | None = None) -> list[ChunkView]:
    """The document's chunks in order (`UnknownDocumentError` when there is none)."""
    flt = _for(access, Filter(must={"source": source}))
    rows = [p for _, p in store.scroll_payloads(_CHUNK_FIELDS, flt)]
    if not rows:
        raise UnknownDocumentError(_unknown(source))
    views = [
        ChunkView(
            chunk_index=int(p.get("chunk_index", 0)),
            text=str(p.get("text", "")),
            page=_int(p.get("page")),
            heading=p.get("heading"),
            char_start=int(p.get("char_start", 0)),
            char_end=int(p.get("char_end", 0)),
        )
        for p in rows
    ]
    return sorted(views, key=lambda c: (c.chunk_index, c.char_start))


def delete_document(store: Store, source: str) -> int:
    """Delete every chunk of `source`; returns how many there were (`UnknownDocumentError`
    when none). Searches already running finish with what they read; later ones never see it.
    Unchecked: callers go through `teams.admin.Admin.delete`."""
    count = store.count(Filter(must={"source": source}))
    if not count:
        raise UnknownDocumentError(_unknown(source))
    store.delete(Filter(must={"source": source}))
    return count


def reingest(
    store: Store,
    source: str,
    settings: IngestSettings,
    encoders: DocumentEncoder,
    cwd: Path | None = None,
) -> FileResult:
    """Read `source`'s file again and store it as `msrag ingest` does (an unchanged file is left
    as it is). Sources are paths relative to the folder ingest ran in, so it must run there.
    Unchecked: callers go through `teams.admin.Admin.reingest`."""
    path = Path(source) if Path(source).is_absolute() else (cwd or Path.cwd()) / source
    if not path.is_file():
        raise UnknownDocumentError(
            f"The file of '{source}' is not at {path}: run from the folder it was ingested "
            "from, or ingest it again from where it is now."
        )
    if source_for(path) != source:
        raise UnknownDocumentError(
            f"'{source}' was ingested from another folder: run from that folder so the "
            "document keeps its name."
        )
    report = ingest([path], settings, store, encoders, progress=False)
    return report.files[0] if report.files else FileResult(source, "failed", reason="not read")


_SORT = {
    "source": lambda d: d.source.lower(),
    "title": lambda d: d.title.lower(),
    "chunks": lambda d: d.chunks,
    "pages": lambda d: d.pages or 0,
    "size": lambda d: d.size_bytes or 0,
    "ingested": lambda d: d.ingested_at or "",
}


def sort_documents(
    rows: list[DocumentInfo], sort: str = "source", text: str = ""
) -> list[DocumentInfo]:
    """Rows whose source or title contains `text` (case-insensitive), sorted by `sort`
    (source, title, chunks, pages, size, ingested; a leading '-' for descending)."""
    key = sort.lstrip("-")
    if key not in _SORT:
        raise InvalidArgumentError(
            f"Cannot sort by '{sort}': use one of {', '.join(_SORT)} (prefix '-' to reverse)."
        )
    wanted = text.strip().lower()
    kept = [r for r in rows if wanted in r.source.lower() or wanted in r.title.lower()]
    return sorted(kept, key=_SORT[key], reverse=sort.startswith("-"))


def _first_chunk(source: str) -> Filter:
    return Filter(must={"source": source, "chunk_index": 0})


def _groups(payload: dict[str, Any]) -> tuple[str, ...]:
    return payload_groups(payload.get("groups"))


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _unknown(source: str) -> str:
    return f"No document '{source}' is stored: `msrag docs list` shows the sources."


def human_size(size: int | None) -> str:
    """A file size as people read it: `human_size(1536)` → '1.5 KB'; None → '—'."""
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
