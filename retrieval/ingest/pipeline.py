"""Files → chunks → vectors → store, idempotent and resumable.

Every point id is derived from source + chunk index + chunk text, and every point records the
`file_hash` of the document version it came from and that version's `chunk_count`. A file is
*done* when the store holds `chunk_count` points with its source and file hash. A changed file is
written first (new version upserted) and its old version deleted only afterwards, so a run killed
at any moment leaves the old version, the new one, or both, and the next run finishes the job.
A version's chunks are written with `state="pending"`, which every query excludes, and marked
`"complete"` once all of them are stored: search never sees half a document.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from rich.console import Console
from rich.progress import Progress

from retrieval.access import GroupNameError, folder_groups, group_names, payload_groups
from retrieval.batching import length_batches
from retrieval.ingest.chunking import chunk_document, version_hash
from retrieval.ingest.loaders import (
    SUPPORTED_SUFFIXES,
    Document,
    LoadError,
    file_digest,
    load,
    read_file,
    source_for,
)
from retrieval.ingest.progress import PlainProgress, progress_display
from retrieval.ingest.settings import IngestSettings
from retrieval.stores.base import Store
from retrieval.types import COMPLETE, PENDING, Chunk, ChunkVectors, Filter

Status = Literal["ingested", "unchanged", "skipped", "failed", "pruned"]


class DocumentEncoder(Protocol):
    """What ingest needs from `retrieval.encoders.Encoders`."""

    def encode_documents(self, texts: Sequence[str]) -> list[ChunkVectors]: ...


@dataclass
class FileResult:
    """What happened to one file (`path` is its store source)."""

    path: str
    status: Status
    chunks: int = 0
    reason: str | None = None
    groups: tuple[str, ...] = ()  # who may see it; empty = everyone
    regrouped: bool = False  # an unchanged file whose stored groups this run changed


@dataclass
class IngestReport:
    """Per-file results and throughput of one `ingest` run.

    report = ingest(["examples/docs"], settings, store, encoders)
    report.ok, report.counts()["ingested"]
    # -> (True, 8)
    """

    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0  # the whole run
    write_seconds: float = 0.0  # encode + upsert
    chunks_written: int = 0

    @property
    def ok(self) -> bool:
        """False when any file could not be ingested (the CLI exits with 1)."""
        return not any(r.status == "failed" for r in self.files)

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.files if r.status == "failed"]

    def counts(self) -> Counter[str]:
        return Counter(r.status for r in self.files)

    @property
    def docs_per_s(self) -> float:
        return self.counts()["ingested"] / self.seconds if self.seconds else 0.0

    @property
    def chunks_per_s(self) -> float:
        return self.chunks_written / self.write_seconds if self.write_seconds else 0.0

    def summary(self, loading_seconds: float | None = None) -> str:
        """One line; `loading_seconds` (model loading before the run) is shown apart, so the
        rates stay the run's own: "… in 12.3 s (+8.1 s loading models; 1.6 chunks/s, …)"."""
        c = self.counts()
        parts = [
            f"{c['ingested']} ingested ({self.chunks_written} chunks)",
            f"{c['unchanged']} unchanged",
        ]
        parts += [f"{c[s]} {s}" for s in ("skipped", "failed", "pruned") if c[s]]
        text = f"{', '.join(parts)} in {self.seconds:.1f} s"
        notes = []
        if loading_seconds is not None:
            notes.append(f"+{loading_seconds:.1f} s loading models")
        if self.chunks_written:
            notes.append(f"{self.chunks_per_s:.1f} chunks/s, {self.docs_per_s:.2f} docs/s")
        return text + (f" ({'; '.join(notes)})" if notes else "")


def ingest(
    paths: Iterable[Path | str],
    settings: IngestSettings,
    store: Store,
    encoders: DocumentEncoder,
    *,
    prune: bool = False,
    progress: bool = True,
    groups: Sequence[str] | None = None,
    public: bool = False,
) -> IngestReport:
    """Ingest files and folders (recursively; hidden entries ignored) into `store`.

    Unchanged files are skipped, changed ones replace their chunks, bad ones are reported and
    skipped. With `prune`, stored files under `paths` that no longer exist are removed.

    Who may see a file (`retrieval/access.py`): everyone with `public`; `groups` if given (empty
    groups are *no groups given*, never "everyone"), else the nearest `.msrag-groups` file
    between the file and the path it was found under, else what the store already records for
    it, for an unchanged or a changed file alike (re-ingesting never makes a restricted file
    public), else everyone (a new file).
    A file whose groups change but whose text does not gets a payload update, not re-encoding.
    """
    start = time.perf_counter()
    roots = [Path(p) for p in paths]
    named = None if groups is None else group_names(groups)
    # only `public` widens: empty groups mean "none given", so stored ones are kept
    explicit = () if public else (named or None)
    report = IngestReport()
    files, missing = _discover(roots, report.files)
    stored = _stored_versions(store)
    stored_access = _stored_groups(store)

    # Old versions go only once every chunk of the new one is stored (see module docstring).
    remaining: dict[str, int] = {}  # source → chunks still to write
    results: dict[str, FileResult] = {}

    def settle_groups(source: str, target: tuple[str, ...]) -> bool:
        if stored_access.get(source, {target}) != {target}:
            store.set_groups(Filter(must={"source": source}), target)
            return True
        return False

    def finalize(source: str, file_hash: str) -> None:
        # Visible from here on; the old version goes after, so search never lacks the file.
        store.set_payload(
            Filter(must={"source": source, "file_hash": file_hash}), {"state": COMPLETE}
        )
        if set(stored.get(source, {})) - {file_hash}:
            _delete_other_versions(store, source, file_hash)
        # chunks a stopped run stored for this version may carry the groups of that run
        settle_groups(source, results[source].groups)
        results[source].status = "ingested"

    to_write: list[Chunk] = []
    seen: set[str] = set()
    for path, root in files:
        source = source_for(path)
        seen.add(source)
        result = FileResult(source, "failed")
        report.files.append(result)
        try:
            result.groups = _groups_for(path, root, explicit, stored_access.get(source))
            data = read_file(path, max_mb=settings.max_file_mb)
            file_hash = version_hash(
                file_digest(data), settings.chunk_tokens, settings.chunk_overlap
            )
            versions = stored.get(source, {})
            if file_hash in versions and versions[file_hash].complete:
                result.status, result.chunks = "unchanged", versions[file_hash].chunk_count
                if versions[file_hash].pending:  # a run stopped before marking it complete
                    store.set_payload(
                        Filter(must={"source": source, "file_hash": file_hash}),
                        {"state": COMPLETE},
                    )
                if len(versions) > 1:  # a run stopped between writing this version and cleaning up
                    _delete_other_versions(store, source, file_hash)
                result.regrouped = settle_groups(source, result.groups)
                continue
            doc = load(path, data=data)
            chunks = with_document_facts(
                [
                    replace(c, groups=result.groups)
                    for c in chunk_document(doc, settings.chunk_tokens, settings.chunk_overlap)
                ],
                doc,
                len(data),
            )
            over = over_file_limits(doc, len(chunks), settings)
            if over:
                result.reason = over
                continue
        except LoadError as exc:
            result.reason = exc.reason
            continue
        except GroupNameError as exc:
            result.reason = str(exc)
            continue
        except OSError as exc:
            result.reason = f"cannot read the file ({exc.strerror or exc})"
            continue
        result.chunks = len(chunks)
        results[source] = result
        # Resuming: chunks an interrupted run already stored for this version are not redone.
        done = versions[file_hash].ids if file_hash in versions else set()
        # Written hidden (PENDING) until every chunk of this version is stored.
        missing_chunks = [replace(c, state=PENDING) for c in chunks if c.id not in done]
        remaining[source] = len(missing_chunks)
        to_write.extend(missing_chunks)
        if not missing_chunks:
            finalize(source, file_hash)

    def finish(batch: Sequence[Chunk]) -> None:
        for chunk in batch:
            remaining[chunk.source] -= 1
            if remaining[chunk.source] == 0:
                finalize(chunk.source, chunk.file_hash)

    if to_write:
        stats = ingest_chunks(
            to_write,
            store,
            encoders,
            progress=progress,
            batch_size=settings.encode_batch_size,
            max_tokens=settings.encode_max_tokens,
            window=settings.encode_window,
            on_written=finish,
        )
        report.chunks_written = int(stats["chunks"])
        report.write_seconds = stats["seconds"]
        store.optimize()

    if prune:
        report.files.extend(_prune(store, stored, seen, roots))
    # A missing path is only a failure if pruning did not explain it.
    pruned = {r.path for r in report.files if r.status == "pruned"}
    for path in missing:
        scope = source_for(path)
        if not any(_within(p, scope) for p in pruned):
            report.files.append(FileResult(scope, "failed", reason="no such file or folder"))
    report.files.sort(key=lambda r: r.path)
    report.seconds = time.perf_counter() - start
    return report


def over_file_limits(doc: Document, chunks: int, settings: IngestSettings) -> str | None:
    """Why a file costs more than one file may (checked before encoding), or None."""
    pages = max((s.page for s in doc.sections if s.page is not None), default=0)
    if pages > settings.max_file_pages:
        return (
            f"{pages} pages, over the limit of {settings.max_file_pages} pages per file: split it, "
            "or raise MSRAG_MAX_FILE_PAGES"
        )
    if chunks > settings.max_file_chunks:
        return (
            f"{chunks} chunks, over the limit of {settings.max_file_chunks} chunks per file: "
            "split it, or raise MSRAG_MAX_FILE_CHUNKS"
        )
    return None


def with_document_facts(chunks: list[Chunk], doc: Document, size_bytes: int) -> list[Chunk]:
    """The chunks carrying their document's size, page count and ingest time (for the
    document library); ids are unchanged, as they depend on the content only."""
    pages = max((s.page for s in doc.sections if s.page is not None), default=None)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return [replace(c, size_bytes=size_bytes, page_count=pages, ingested_at=now) for c in chunks]


def ingest_chunks(
    chunks: Iterable[Chunk],
    store: Store,
    encoders: DocumentEncoder,
    progress: bool = True,
    *,
    batch_size: int | None = None,
    max_tokens: int | None = None,
    window: int | None = None,
    on_written: Callable[[Sequence[Chunk]], None] | None = None,
) -> dict[str, float]:
    """Encode and upsert `chunks` in batches; returns {"chunks", "seconds", "chunks_per_s"}.

    `chunks` may be any iterable (a generator streams): every `window` chunks are sorted by the
    token count the encoder will see and cut into batches of at most `batch_size` chunks and
    `max_tokens` padded tokens (`retrieval.batching`), so little compute goes to padding while
    at most one window is held. Each batch is upserted on a writer thread while the next one is
    encoded: the store's write and flush then costs no encoding time. `on_written(batch)` runs on
    the writer thread after each durable upsert, so store calls never overlap.

    Encoders without `token_counts`/`encode_batch` (e.g. a replay of cached vectors) are batched
    by character length and encoded with `encode_documents`.

        stats = ingest_chunks(chunks, store, encoders, progress=False)
    """
    size = batch_size or int(getattr(encoders, "batch_size", 32))
    budget = max_tokens or int(getattr(encoders, "max_batch_tokens", 4096))
    counts = getattr(encoders, "token_counts", None)
    encode = getattr(encoders, "encode_batch", encoders.encode_documents)
    total = len(chunks) if isinstance(chunks, Sized) else None
    batches = length_batches(
        chunks,
        (lambda cs: counts([c.text for c in cs])) if counts else _char_counts,
        batch_size=size,
        max_tokens=budget,
        window=window or 1024,
    )
    start = time.perf_counter()
    written = 0

    def write(batch: Sequence[Chunk], vectors: list[ChunkVectors]) -> None:
        store.upsert(batch, vectors)
        if on_written is not None:
            on_written(batch)

    with _progress_bar(progress) as bar, ThreadPoolExecutor(1, "msrag-upsert") as writer:
        task = bar.add_task("Encoding + storing", total=total)
        pending: tuple[Future[None], int] | None = None
        for batch in batches:
            vectors = encode([c.text for c in batch])
            if pending is not None:
                pending[0].result()  # one batch in flight: bounded memory, errors surface here
                bar.advance(task, pending[1])
            pending = (writer.submit(write, batch, vectors), len(batch))
            written += len(batch)
        if pending is not None:
            pending[0].result()
            bar.advance(task, pending[1])
    seconds = time.perf_counter() - start
    return {
        "chunks": float(written),
        "seconds": seconds,
        "chunks_per_s": written / seconds if seconds else 0.0,
    }


def _char_counts(chunks: Sequence[Chunk]) -> list[int]:
    return [len(c.text) // 4 for c in chunks]  # ~4 characters per token: a proxy for batching


# --- what is stored ---------------------------------------------------------------------------


@dataclass
class _Version:
    chunk_count: int = 0
    ids: set[str] = field(default_factory=set)
    pending: bool = False  # some points still hidden from search

    @property
    def points(self) -> int:
        return len(self.ids)

    @property
    def complete(self) -> bool:
        return self.points == self.chunk_count > 0


def _stored_versions(store: Store) -> dict[str, dict[str, _Version]]:
    """source → file_hash → stored point ids and points expected, from one scroll."""
    versions: dict[str, dict[str, _Version]] = defaultdict(dict)
    for point_id, payload in store.scroll_payloads(["source", "file_hash", "chunk_count", "state"]):
        source, file_hash = payload.get("source"), payload.get("file_hash")
        if not isinstance(source, str) or not isinstance(file_hash, str):
            continue  # not a point ingest wrote (e.g. a BEIR passage): never ours to manage
        version = versions[source].setdefault(file_hash, _Version())
        version.ids.add(point_id)
        version.chunk_count = int(payload.get("chunk_count") or 0)
        version.pending = version.pending or payload.get("state") == PENDING
    return dict(versions)


@dataclass(frozen=True)
class StoredDocument:
    """One stored file as `msrag status` reports it: `complete` when some stored version of it
    has every chunk its payload's `chunk_count` promises (an interrupted ingest leaves fewer;
    the next `msrag ingest` of the file completes it)."""

    source: str
    chunks: int  # of the most complete version
    expected: int

    @property
    def complete(self) -> bool:
        return self.chunks == self.expected > 0


def stored_documents(store: Store) -> list[StoredDocument]:
    """Every file ingest has stored, by source, with how many of its chunks are there."""
    documents = []
    for source, versions in sorted(_stored_versions(store).items()):
        best = max(versions.values(), key=lambda v: (v.complete, v.points))
        documents.append(StoredDocument(source, best.points, best.chunk_count))
    return documents


def _stored_groups(store: Store) -> dict[str, set[tuple[str, ...]]]:
    """source → the distinct access groups its stored points carry (PUBLIC shown as ())."""
    found: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for _, payload in store.scroll_payloads(["source", "groups"]):
        source, groups = payload.get("source"), payload.get("groups")
        if isinstance(source, str):
            found[source].add(payload_groups(groups))
    return dict(found)


def _groups_for(
    path: Path,
    root: Path,
    explicit: tuple[str, ...] | None,
    stored: set[tuple[str, ...]] | None,
) -> tuple[str, ...]:
    if explicit is not None:
        return explicit
    from_folder = folder_groups(path, stop=root)
    if from_folder is not None:
        return from_folder
    if stored:
        # Kept as stored; if versions disagree (a stopped run), the narrowest-looking one.
        return min(stored, key=lambda g: (len(g) == 0, len(g), g))
    return ()


def _delete_other_versions(store: Store, source: str, file_hash: str) -> None:
    store.delete(Filter(must={"source": source}, must_not={"file_hash": file_hash}))


# --- which files ----------------------------------------------------------------------------


def _discover(
    paths: list[Path], results: list[FileResult]
) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """Files to ingest (explicit files whatever their type; supported files inside folders),
    each with the folder it was found under (where `.msrag-groups` lookup stops), and the
    paths that do not exist. Unsupported files inside folders are reported as skipped."""
    files: list[tuple[Path, Path]] = []
    missing: list[Path] = []
    seen: set[Path] = set()

    def add(path: Path, root: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            files.append((path, root))

    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path)
                if any(part.startswith(".") for part in relative.parts) or not child.is_file():
                    continue
                if child.suffix.lower() in SUPPORTED_SUFFIXES:
                    add(child, path)
                elif child.resolve() not in seen:
                    seen.add(child.resolve())
                    reason = f"unsupported file type '{child.suffix.lower() or child.name}'"
                    results.append(FileResult(source_for(child), "skipped", reason=reason))
        elif path.exists():
            add(path, path.parent)
        else:
            missing.append(path)
    return files, missing


def _within(source: str, scope: str) -> bool:
    """Is `source` the file `scope` or inside the folder `scope` (both as `source_for` gives)?"""
    if scope == ".":
        return not Path(source).is_absolute()
    return source == scope or source.startswith(scope.rstrip("/") + "/")


def _prune(
    store: Store, stored: dict[str, dict[str, _Version]], seen: set[str], paths: list[Path]
) -> list[FileResult]:
    """Remove stored files that lie under `paths` and no longer exist on disk.

    Only sources inside the given paths are candidates, so pruning from another working
    directory or with a narrower path never touches the rest of the store.
    """
    scopes = [source_for(p) for p in paths]
    results = []
    for source, versions in sorted(stored.items()):
        if source in seen or not any(_within(source, scope) for scope in scopes):
            continue
        if Path(source).exists():
            continue
        store.delete(Filter(must={"source": source}))
        points = sum(v.points for v in versions.values())
        results.append(FileResult(source, "pruned", chunks=points, reason="file no longer exists"))
    return results


# --- progress bar ----------------------------------------------------------------------------


def _progress_bar(enabled: bool) -> Progress | PlainProgress:
    # a bar in a terminal; plain lines every 10% or 30 s in a pipe or a log
    return progress_display(Console(stderr=True), unit="chunks", enabled=enabled)
