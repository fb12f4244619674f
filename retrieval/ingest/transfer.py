"""Move a collection between the embedded store, a Qdrant server and a file, without re-encoding.

`transfer(source, target)` streams the stored points (payload + every named vector, exactly as
stored: pooled, in the stored datatype) page by page from one endpoint to the other. After each
page a checkpoint (the source offset, and for a file the bytes written) is saved atomically, so
an interrupted run resumes where it stopped; upserts are idempotent, so a page written twice is
harmless. Between two stores it then verifies: equal counts, and a sample of stored points used
as queries returns the same top-10 on both (`verify`).

    report = transfer(open_endpoint(settings, None), open_endpoint(settings, "http://q:6333"),
                      checkpoint=Path(".msrag/transfer.json"))
    report.verified, report.mismatches
    # -> (20, [])
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NotRequired, Protocol, TypedDict, final

import numpy as np
import numpy.typing as npt
from qdrant_client import QdrantClient

from retrieval.errors import RetrievalError
from retrieval.ingest.settings import IngestSettings
from retrieval.modes import MODE_SPECS
from retrieval.schema import BM25, COLBERT, DENSE, MUVERA, Layout
from retrieval.stores import Store, open_store, stored_layout
from retrieval.stores.server import connect, server_errors
from retrieval.types import ChunkVectors, Passage, QueryPlan, SparseVector, StoredPoint

FILE_FORMAT = "msrag-export"
FILE_VERSION = 1
PAGE_POINTS = 128  # points per page: a few MB of token vectors, one upsert request each
SAMPLE_QUERIES = 20
TOP_K = 10
QUERY_TOKENS = 32  # token vectors of a sampled point used as a ColBERT query
# Rank-fusion modes are left out of the check: their scores come from ranks alone, so two
# engines that break a score tie in a prefetch differently legitimately fuse differently.
_CHECKED_MODES = tuple(name for name, spec in MODE_SPECS.items() if spec.score != "rank")


class TransferError(RetrievalError):
    """A transfer cannot start or continue (target not empty, unreadable file, no source)."""


class Checkpoint(TypedDict):
    """What a transfer saves after each page, so that an interrupted run resumes there."""

    source: str  # the endpoints' descriptions: a checkpoint only resumes the same transfer
    target: str
    cursor: str | None  # where the source's next page starts (None: after the last)
    written: int  # points written so far, by every run
    done: bool  # every page is written
    bytes: NotRequired[int]  # a file target: its length after the last page written


# --- endpoints -----------------------------------------------------------------------------------
class Endpoint(Protocol):
    """A source or target of `transfer`: a store (`StoreEndpoint`) or a file (`FileEndpoint`)."""

    @property
    def layout(self) -> Layout: ...

    def describe(self) -> str: ...

    def open_existing(self) -> Endpoint:
        """As a source: open what is there (an error if there is nothing)."""
        ...

    def count(self) -> int: ...

    def pages(self, cursor: str | None) -> Iterator[tuple[list[StoredPoint], str | None]]:
        """Pages from `cursor` (None: the start), each with the cursor of the page after it."""
        ...

    def prepare(self, layout: Layout, total: int, resume: Checkpoint | None) -> None:
        """As a target: create it for `layout` (or reopen it at the checkpoint `resume`)."""
        ...

    def write(self, points: list[StoredPoint]) -> int | None:
        """Write durably; returns a file's length after the page (None for a store)."""
        ...

    def finish(self) -> None:
        """After the last page: build indexes (the embedded store), nothing for a file."""
        ...

    def close(self) -> None: ...


@dataclass
class StoreEndpoint:
    """A collection in the embedded store or on a Qdrant server, as source or target.

    `client` (a `QdrantClient`) replaces `QDRANT_URL`, e.g. qdrant-client's local mode in tests.
    """

    settings: IngestSettings
    client: QdrantClient | None = None
    store: Store | None = None
    _owns_client: bool = False

    def __post_init__(self) -> None:
        if self.client is None and self.settings.qdrant_url:
            self.client, self._owns_client = connect(self.settings), True

    @property
    def layout(self) -> Layout:
        assert self.store is not None
        return self.store.layout

    def describe(self) -> str:
        if self.settings.qdrant_url:
            return (
                f"Qdrant server at {self.settings.qdrant_url}, "
                f"collection {self.settings.collection!r}"
            )
        if self.client is not None:
            options = self.client.init_options
            where = options.get("url") or options.get("location") or options.get("path")
            return f"Qdrant at {where}, collection {self.settings.collection!r}"
        return f"embedded store at {self.settings.store_path}"

    def open_existing(self) -> StoreEndpoint:
        layout = self._stored_layout()
        if layout is None:
            raise TransferError(
                f"There is nothing to transfer: no collection at {self.describe()}."
            )
        self.store = open_store(self.settings, layout, client=self.client)
        return self

    def _stored_layout(self) -> Layout | None:
        with server_errors(self.settings.qdrant_url or self.describe()):
            return stored_layout(self.settings, self.client)

    def count(self) -> int:
        assert self.store is not None
        return self.store.count()

    def pages(self, cursor: str | None) -> Iterator[tuple[list[StoredPoint], str | None]]:
        assert self.store is not None
        while True:
            points, cursor = self.store.scroll_points(PAGE_POINTS, cursor)
            yield points, cursor
            if cursor is None:
                return

    def prepare(self, layout: Layout, total: int, resume: Checkpoint | None) -> None:
        existing = self._stored_layout()
        # creates the collection with the source's layout, or checks an existing one against it
        self.store = open_store(self.settings, layout, client=self.client)
        if existing is not None and resume is None and self.store.count():
            raise TransferError(
                f"The target {self.describe()} already holds {self.store.count()} points: "
                "choose another collection (--collection / MSRAG_COLLECTION) or delete it first."
            )

    def write(self, points: list[StoredPoint]) -> int | None:
        assert self.store is not None
        self.store.upsert_points(points)
        return None

    def finish(self) -> None:
        assert self.store is not None
        self.store.optimize()  # as after an ingest: the embedded store builds its indexes now

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
        if self._owns_client and self.client is not None:
            self.client.close()
            self.client = None


@dataclass
class FileEndpoint:
    """A JSON Lines file: a header with the layout, then one point per line.

    Token vectors are base64 of the smallest dtype that holds the stored values exactly
    (float16 or uint8 when the collection stores those, float32 otherwise), so the file
    round-trips bit for bit.
    """

    path: Path
    layout: Layout = field(init=False)
    _total: int = 0
    _body: int = 0  # byte offset of the first point line
    _handle: BinaryIO | None = None

    def describe(self) -> str:
        return f"file {self.path}"

    # as a source
    def open_existing(self) -> FileEndpoint:
        try:
            with self.path.open("rb") as f:
                header = json.loads(f.readline())
                self._body = f.tell()
            if header.get("format") != FILE_FORMAT or header.get("version") != FILE_VERSION:
                raise ValueError("not an msrag export (version 1)")
            self.layout = Layout.from_dict(header["layout"])
            self._total = int(header["points"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TransferError(
                f"{self.path} is not a readable msrag export ({exc}): make it with `msrag "
                "export --to FILE`."
            ) from exc
        if self.count() < self._total:
            raise TransferError(
                f"{self.path} holds {self.count()} of its {self._total} points (the export was "
                "interrupted): run the same `msrag export` again to finish it."
            )
        return self

    def pages(self, cursor: str | None) -> Iterator[tuple[list[StoredPoint], str | None]]:
        with self.path.open("rb") as f:
            f.seek(int(cursor) if cursor else self._body)
            while True:
                points = []
                for _ in range(PAGE_POINTS):
                    line = f.readline()
                    if not line:
                        break
                    if not line.endswith(b"\n"):  # an export cut short: never half a point
                        raise TransferError(
                            f"{self.path} ends in the middle of a point: export it again."
                        )
                    points.append(_decode(json.loads(line)))
                position = f.tell()
                done = not f.peek(1)
                yield points, None if done else str(position)
                if done:
                    return

    # as a target
    def prepare(self, layout: Layout, total: int, resume: Checkpoint | None) -> None:
        self.layout = layout
        if resume is not None:
            self._handle = self.path.open("r+b")
            self._handle.truncate(resume["bytes"])  # drop a page written after the save
            self._handle.seek(0, os.SEEK_END)
            return
        if self.path.exists():
            raise TransferError(f"{self.path} already exists: delete it or choose another name.")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("wb")
        header = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "layout": layout.to_dict(),
            "points": total,
        }
        self._handle.write(json.dumps(header).encode() + b"\n")
        self._sync()

    def write(self, points: list[StoredPoint]) -> int | None:
        assert self._handle is not None
        self._handle.write(b"".join(json.dumps(_encode(p)).encode() + b"\n" for p in points))
        self._sync()
        return self._handle.tell()

    def finish(self) -> None:
        pass

    def _sync(self) -> None:
        assert self._handle is not None
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def count(self) -> int:
        """Complete point lines in the file (its header promises `points`)."""
        with self.path.open("rb") as f:
            return sum(1 for line in f if line.endswith(b"\n")) - 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def open_endpoint(
    settings: IngestSettings, where: str | None, collection: str | None = None
) -> Endpoint:
    """`None`: the configured store; an http(s) URL: that Qdrant server (key: QDRANT_API_KEY,
    collection: `collection` or MSRAG_COLLECTION); anything else: a file path."""
    if where is None:
        return StoreEndpoint(settings)
    if where.startswith(("http://", "https://")):
        update = {"qdrant_url": where}
        if collection:
            update["collection"] = collection
        return StoreEndpoint(settings.model_copy(update=update))
    return FileEndpoint(Path(where))


# --- the transfer --------------------------------------------------------------------------------
@dataclass
class TransferReport:
    source: str
    target: str
    source_count: int
    target_count: int
    written: int  # points written by this run
    resumed_after: int  # points a previous, interrupted run had written
    seconds: float
    verified: int = 0  # sampled queries compared (x modes), 0 when the target is a file
    modes: tuple[str, ...] = ()
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.source_count == self.target_count and not self.mismatches


def checkpoint_path(settings: IngestSettings, source: Endpoint, target: Endpoint) -> Path:
    """Where the checkpoint of this source → target transfer lives (in the data directory)."""
    key = hashlib.sha256(f"{source.describe()} -> {target.describe()}".encode()).hexdigest()
    return settings.data_dir / f"transfer-{key[:16]}.json"


def transfer(
    source: Endpoint,
    target: Endpoint,
    *,
    checkpoint: Path,
    sample: int = SAMPLE_QUERIES,
    progress: Callable[[int, int], None] | None = None,
) -> TransferReport:
    """Copy every point of `source` (opened) into `target`, resumably, then verify."""
    started = time.perf_counter()
    total = source.count()
    # named once: a target describes itself differently once opened
    source_name, target_name = source.describe(), target.describe()
    resume = _load(checkpoint, source_name, target_name)
    target.prepare(source.layout, total, resume)
    written_before = resume["written"] if resume else 0
    written = 0
    cursor = resume["cursor"] if resume else None
    if not (resume and resume["done"]):
        for points, next_cursor in source.pages(cursor):
            length = target.write(points)
            written += len(points)
            state: Checkpoint = {
                "source": source_name,
                "target": target_name,
                "cursor": next_cursor,
                "written": written_before + written,
                "done": next_cursor is None,
            }
            if length is not None:
                state["bytes"] = length
            _save(checkpoint, state)
            if progress:
                progress(written_before + written, total)
    target.finish()
    report = TransferReport(
        source=source_name,
        target=target_name,
        source_count=total,
        target_count=target.count(),
        written=written,
        resumed_after=written_before,
        seconds=0.0,
    )
    if isinstance(source, StoreEndpoint) and isinstance(target, StoreEndpoint):
        assert source.store is not None and target.store is not None
        report.modes, report.verified, report.mismatches = verify(
            source.store, target.store, sample=sample
        )
    report.seconds = time.perf_counter() - started
    checkpoint.unlink(missing_ok=True)
    return report


def verify(
    a: Store, b: Store, *, sample: int = SAMPLE_QUERIES
) -> tuple[tuple[str, ...], int, list[str]]:
    """Run `sample` stored points of `a` as queries in every rank-score mode on both stores.

    Returns the modes, the number of queries compared and one line per disagreement: the top-10
    must hold the same ids in the same order, except that points with equal scores may swap
    (each engine breaks exact ties its own way) and a tie at the cut may admit either point.
    """
    points: list[StoredPoint] = []
    cursor: str | None = None
    while len(points) < 5 * sample:  # every 5th of the first points: spread over documents
        page, cursor = a.scroll_points(PAGE_POINTS, cursor)
        points.extend(page)
        if cursor is None:
            break
    usable = [p for p in points if p.vectors[BM25].indices]  # a query needs every vector kind
    queries = usable[::5][:sample] if len(usable) >= 5 * sample else usable[:sample]
    modes = tuple(
        m for m in _CHECKED_MODES if a.layout.muvera_dim or not MODE_SPECS[m].needs_muvera
    )
    # float16 token vectors are not exactly unit length; an engine that stores float32 (such as
    # qdrant-client's local mode, which ignores the datatype) renormalises them, moving MaxSim
    # scores by up to ~1e-3 relative. Equal rankings within that are what "identical" can mean.
    tol = 2e-3 if a.layout.colbert_datatype == "float16" else 1e-4
    mismatches = []
    for point in queries:
        query = _as_query(point)
        for mode in modes:
            plan = QueryPlan(mode, query, top_k=TOP_K)
            problem = _compare(a.query(plan), b.query(plan), tol)
            if problem:
                mismatches.append(f"{mode}, query from point {point.id}: {problem}")
    return modes, len(queries), mismatches


def _as_query(point: StoredPoint) -> ChunkVectors:
    v = point.vectors
    sparse = v[BM25]
    return ChunkVectors(
        dense=np.asarray(v[DENSE], dtype=np.float32),
        sparse=SparseVector(list(sparse.indices), list(sparse.values)),
        colbert=np.asarray(v[COLBERT], dtype=np.float32)[:QUERY_TOKENS],
        muvera=np.asarray(v[MUVERA], dtype=np.float32) if MUVERA in v else None,
    )


def _close(x: float, y: float, tol: float) -> bool:
    return abs(x - y) <= tol * max(1.0, abs(x))


def _compare(a: list[Passage], b: list[Passage], tol: float) -> str | None:
    if len(a) != len(b):
        return f"{len(a)} results vs {len(b)}"
    for rank, (p, q) in enumerate(zip(a, b, strict=True), start=1):
        if not _close(p.score, q.score, tol):
            return f"rank {rank}: score {p.score:.6f} ({p.id}) vs {q.score:.6f} ({q.id})"
    # Group equal scores; every group but the last (a tie at the cut) must hold the same ids.
    groups: list[list[int]] = []
    for i, p in enumerate(a):
        if groups and _close(a[groups[-1][-1]].score, p.score, tol):
            groups[-1].append(i)
        else:
            groups.append([i])
    for group in groups[:-1]:
        if {a[i].id for i in group} != {b[i].id for i in group}:
            return f"ranks {group[0] + 1}-{group[-1] + 1} hold different points"
    return None


# --- checkpoints ---------------------------------------------------------------------------------
def _load(path: Path, source: str, target: str) -> Checkpoint | None:
    if not path.exists():
        return None
    state: Checkpoint = json.loads(path.read_text())
    if (state.get("source"), state.get("target")) != (source, target):
        return None
    return state


def _save(path: Path, state: Checkpoint) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)


# --- the file format -----------------------------------------------------------------------------
@final
class _PackedArray(TypedDict):
    dtype: str  # float32, float16 or uint8: the smallest that holds the values exactly
    shape: list[int]
    data: str  # base64 of the array's bytes


@final
class _PackedSparse(TypedDict):
    indices: list[int]
    values: list[float]


class _PointLine(TypedDict):
    id: str
    payload: dict[str, object]
    vectors: dict[str, _PackedArray | _PackedSparse]


def _encode(point: StoredPoint) -> _PointLine:
    vectors: dict[str, _PackedArray | _PackedSparse] = {}
    for name, value in point.vectors.items():
        if isinstance(value, SparseVector):
            vectors[name] = {"indices": list(value.indices), "values": list(value.values)}
        else:
            vectors[name] = _pack(np.asarray(value, dtype=np.float32))
    return {"id": point.id, "payload": point.payload, "vectors": vectors}


def _pack(array: npt.NDArray[np.float32]) -> _PackedArray:
    packed: npt.NDArray[np.generic] = array
    for candidate in (np.uint8, np.float16):  # the smallest exact representation
        smaller = array.astype(candidate)
        if np.array_equal(smaller.astype(np.float32), array):
            packed = smaller
            break
    data = base64.b64encode(np.ascontiguousarray(packed).tobytes()).decode()
    return {"dtype": packed.dtype.name, "shape": list(array.shape), "data": data}


def _decode(row: _PointLine) -> StoredPoint:
    vectors: dict[str, object] = {}
    for name, value in row["vectors"].items():
        if "indices" in value:
            vectors[name] = SparseVector(list(value["indices"]), list(value["values"]))
        else:
            raw = np.frombuffer(base64.b64decode(value["data"]), dtype=value["dtype"])
            vectors[name] = raw.astype(np.float32).reshape(value["shape"]).tolist()
    return StoredPoint(str(row["id"]), dict(row["payload"]), vectors)


__all__ = [
    "Checkpoint",
    "Endpoint",
    "FileEndpoint",
    "StoreEndpoint",
    "TransferError",
    "TransferReport",
    "checkpoint_path",
    "open_endpoint",
    "transfer",
    "verify",
]
