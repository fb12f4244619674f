"""`EdgeStore`: the embedded store, one qdrant-edge shard in a folder of its own.

qdrant-edge runs Qdrant's own segment code in-process (HNSW, sparse index, WAL, mmapped
segments), so the default install needs no server. It has its own classes (not qdrant-client's
models), a shard per folder and no collection names; our layout is kept next to the shard in
`msrag-layout.json`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

from retrieval.access import GROUPS_FIELD, PUBLIC, stored_groups
from retrieval.errors import (
    RetrievalError,
    StoreCorruptError,
    StoreFullError,
    StoreLockedError,
    StoreUnavailableError,
)
from retrieval.plan import render, stored_vectors
from retrieval.schema import (
    BM25,
    COLBERT,
    DENSE,
    INDEXED_FIELDS,
    INTEGER_INDEXED_FIELDS,
    MUVERA,
    Layout,
)
from retrieval.settings import RetrievalSettings
from retrieval.stores.disk_space import ensure_free_space
from retrieval.stores.folder_lock import FolderLock
from retrieval.types import (
    Chunk,
    ChunkVectors,
    Filter,
    Passage,
    QueryPlan,
    SparseVector,
    Stage,
    StoredPoint,
)

LAYOUT_FILE = "msrag-layout.json"
# {"clean": bool, "points": int}: the point count at the last clean close, checked on open.
STATE_FILE = "msrag-state.json"
FLUSH_INTERVAL = 5.0  # seconds between segment syncs during a stream of upserts
# Opening a store creates ~100 MB of mapped segment files; a full disk under them is a SIGBUS.
DEFAULT_MIN_FREE_MB = 256.0
_SCROLL_PAGE = 512
_FACET_PAGE = 10_000  # values per facet request; raised until every value fits
_DATATYPES = {
    "float32": qe.VectorStorageDatatype.Float32,
    "float16": qe.VectorStorageDatatype.Float16,
    "uint8": qe.VectorStorageDatatype.Uint8,
}


class EdgeStore:
    """Our collection layout in a qdrant-edge shard at `path` (created on first open).

        store = EdgeStore(Path("/tmp/msrag/msrag"), layout)
        store.upsert(chunks, vectors)
        store.query(QueryPlan("hybrid+colbert", query_vectors, top_k=5))
        store.close()

    Only one process can hold the folder: a second one gets `StoreLockedError`. Opening and
    every write need `min_free_mb` free on the disk, else `StoreFullError` (see `disk_space`).
    """

    def __init__(
        self, path: Path, layout: Layout, *, min_free_mb: float = DEFAULT_MIN_FREE_MB
    ) -> None:
        self.path = Path(path)
        self.layout = layout
        self.min_free_mb = min_free_mb
        self._shard: qe.EdgeShard = None  # type: ignore[assignment]  # set by the open below
        # Ours before the engine's: a refused open must not touch the holder's files.
        self._lock = FolderLock(self.path)
        self._lock.acquire()
        try:
            ensure_free_space(self.path, min_free_mb)
            self._open_or_create(layout)
        except BaseException:
            shard, self._shard = self._shard, None  # type: ignore[assignment]
            try:
                if shard is not None:
                    shard.close()
            except Exception:  # the first failure is the one to report
                pass
            finally:
                self._lock.release()
            raise
        self._last_flush = time.monotonic()

    def _open_or_create(self, layout: Layout) -> None:
        layout_file = self.path / LAYOUT_FILE
        if layout_file.exists():
            stored = _read_layout(layout_file)
            self.layout = stored.check_compatible(layout, str(self.path))
            self._shard = _open(self.path, lambda: qe.EdgeShard.load(str(self.path)))
            self._check_integrity()
            self._ensure_groups(layout_file)
            self._ensure_integer_indexes()
        else:
            if (self.path / "segments").exists():
                # A shard without our layout record: not ours, or created by an older version.
                raise StoreUnavailableError(
                    f"The folder {self.path} holds a Qdrant shard without {LAYOUT_FILE}, so its "
                    "layout is unknown: point MSRAG_DATA_DIR / MSRAG_COLLECTION at another "
                    "folder, or delete this one and ingest again."
                )
            self.path.mkdir(parents=True, exist_ok=True)
            self._shard = _open(
                self.path, lambda: qe.EdgeShard.create(str(self.path), _config(layout))
            )
            for field in INDEXED_FIELDS:
                self._shard.update(
                    qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword)
                )
            self._ensure_integer_indexes()
            self._shard.flush()
            # Written last and atomically: a folder with the file always holds a complete shard.
            _write_layout(layout_file, layout)
        # Until a clean close says otherwise, the count may legitimately change (WAL replay).
        _write_json(self.path / STATE_FILE, {"clean": False})

    def _check_integrity(self) -> None:
        """After a clean close the engine must load exactly the points it closed with.

        A damaged segment file can make qdrant-edge load silently fewer points (seen with a
        truncated id tracker: 154 of 300, and wrong rankings); refusing such a store is the only
        way to never answer from it. After a crash the WAL replay may change the count, so
        the check applies only when the last close was clean.
        """
        state_file = self.path / STATE_FILE
        try:
            state = json.loads(state_file.read_text()) if state_file.exists() else {}
        except (OSError, ValueError):
            state = {}
        if state.get("clean") and isinstance(state.get("points"), int):
            loaded = self.count()
            if loaded != state["points"]:
                raise StoreCorruptError(
                    _damaged(
                        self.path,
                        f"{loaded} points loaded, {state['points']} stored at the last close",
                    )
                )

    def _ensure_groups(self, layout_file: Path) -> None:
        """Bring a store from before access groups up to date, once: index `groups` and mark
        every point without it PUBLIC (what it was: visible to everyone). Payload only."""
        if GROUPS_FIELD in _read_indexes(layout_file):
            return
        self._shard.update(
            qe.UpdateOperation.create_field_index(GROUPS_FIELD, qe.PayloadSchemaType.Keyword)
        )
        self._shard.update(
            qe.UpdateOperation.set_payload_by_filter(
                qe.Filter(must=[qe.IsEmptyCondition(GROUPS_FIELD)]), {GROUPS_FIELD: [PUBLIC]}
            )
        )
        self._shard.flush()
        _write_layout(layout_file, self.layout)

    def _ensure_integer_indexes(self) -> None:
        have = set(self._shard.info().payload_schema or {})
        for field in INTEGER_INDEXED_FIELDS:
            if field not in have:
                self._shard.update(
                    qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Integer)
                )

    @classmethod
    def from_settings(cls, settings: RetrievalSettings, layout: Layout) -> EdgeStore:
        return cls(settings.store_path, layout, min_free_mb=settings.min_free_mb)

    @staticmethod
    def read_layout(path: Path) -> Layout | None:
        """The layout the shard at `path` was created with (None if there is none)."""
        file = Path(path) / LAYOUT_FILE
        return _read_layout(file) if file.exists() else None

    def drop(self) -> None:
        """Close the shard and delete its folder (`msrag reindex` rebuilds it from its text).

        The folder lock is held until the folder is gone: no other process can open it midway.
        """
        lock, self._lock = self._lock, FolderLock(self.path)  # close() releases a fresh one
        try:
            self.close()
            shutil.rmtree(self.path)
        finally:
            lock.release()

    # --- writes -----------------------------------------------------------------------------
    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[ChunkVectors]) -> None:
        if len(chunks) != len(vectors):
            raise ValueError(f"Got {len(chunks)} chunks but {len(vectors)} vector sets.")
        if not chunks:
            return
        points = [
            qe.Point(chunk.id, _edge_vectors(stored_vectors(vec, self.layout)), chunk.payload())
            for chunk, vec in zip(chunks, vectors, strict=True)
        ]
        # Once update() returns the points are in the write-ahead log, which survives a killed
        # process (tested with kill -9). flush() also syncs the segments, for power loss; it
        # costs ~0.3 s (fsync), which per batch made ingest 20x slower, so it runs at most
        # every FLUSH_INTERVAL seconds and on close.
        ensure_free_space(self.path, self.min_free_mb)
        with self._engine():
            self._shard.update(qe.UpdateOperation.upsert_points(points))
        self._flush(force=False)

    def upsert_points(self, points: Sequence[StoredPoint]) -> None:
        if not points:
            return
        ensure_free_space(self.path, self.min_free_mb)
        with self._engine():
            self._shard.update(
                qe.UpdateOperation.upsert_points(
                    [qe.Point(p.id, _edge_vectors(p.vectors), p.payload) for p in points]
                )
            )
        self._flush(force=False)

    def delete(self, filter: Filter) -> None:
        if not filter:
            raise ValueError("delete() needs a non-empty filter; refusing to delete everything.")
        ensure_free_space(self.path, self.min_free_mb)
        flt = _filter(filter)
        assert flt is not None  # non-empty, checked above
        with self._engine():
            self._shard.update(qe.UpdateOperation.delete_points_by_filter(flt))
        self._flush(force=False)

    def set_payload(self, filter: Filter, values: dict[str, Any]) -> None:
        if not filter:
            raise ValueError("set_payload() needs a non-empty filter.")
        flt = _filter(filter)
        assert flt is not None  # non-empty, checked above
        ensure_free_space(self.path, self.min_free_mb)
        with self._engine():
            self._shard.update(qe.UpdateOperation.set_payload_by_filter(flt, dict(values)))
        self._flush(force=False)

    def set_groups(self, filter: Filter, groups: Sequence[str]) -> None:
        if not filter:
            raise ValueError(
                "set_groups() needs a non-empty filter; refusing to change every point."
            )
        flt = _filter(filter)
        assert flt is not None  # non-empty, checked above
        self._shard.update(
            qe.UpdateOperation.set_payload_by_filter(flt, {GROUPS_FIELD: stored_groups(groups)})
        )
        self._flush(force=False)  # in the WAL already, like upsert

    def optimize(self) -> None:
        ensure_free_space(self.path, self.min_free_mb)
        with self._engine():
            self._shard.optimize()
        self._flush(force=True)

    def _flush(self, *, force: bool) -> None:
        now = time.monotonic()
        if force or now - self._last_flush >= FLUSH_INTERVAL:
            with self._engine():
                self._shard.flush()
            self._last_flush = time.monotonic()

    # --- reads ------------------------------------------------------------------------------
    def query(self, plan: QueryPlan) -> list[Passage]:
        root = render(plan, self.layout)
        request = qe.QueryRequest(
            limit=root.limit,
            query=_scoring(root),
            prefetches=[_prefetch(child) for child in root.children] or None,
            filter=_filter(root.filter),
            params=_params(root),
            with_payload=True,
            with_vector=[COLBERT] if plan.with_vectors else False,
        )
        with self._engine():
            hits = self._shard.query(request)
        return [
            Passage.from_payload(
                str(hit.id),
                float(hit.score),
                hit.payload or {},
                rank=rank,
                mode=plan.mode,
                colbert=_colbert(hit.vector) if plan.with_vectors else None,
            )
            for rank, hit in enumerate(hits, start=1)
        ]

    def count(self, filter: Filter | None = None) -> int:
        with self._engine():
            return int(self._shard.count(qe.CountRequest(exact=True, filter=_filter(filter))))

    def scroll_payloads(
        self, fields: Sequence[str], filter: Filter | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        offset: Any = None
        while True:
            with self._engine():
                records, offset = self._shard.scroll(
                    qe.ScrollRequest(
                        offset=offset,
                        limit=_SCROLL_PAGE,
                        filter=_filter(filter),
                        with_payload=list(fields) if fields else False,
                        with_vector=False,
                    )
                )
            for record in records:
                yield str(record.id), dict(record.payload or {})
            if offset is None:
                return

    def scroll_points(
        self, limit: int, offset: str | None = None
    ) -> tuple[list[StoredPoint], str | None]:
        with self._engine():
            records, next_offset = self._shard.scroll(
                qe.ScrollRequest(offset=offset, limit=limit, with_payload=True, with_vector=True)
            )
        points = [
            StoredPoint(str(r.id), dict(r.payload or {}), _stored(_named(r.vector)))
            for r in records
        ]
        return points, None if next_offset is None else str(next_offset)

    def facet(self, field: str, filter: Filter | None = None) -> dict[str, int]:
        limit = _FACET_PAGE
        while True:
            response = self._shard.facet(
                qe.FacetRequest(field, limit=limit, exact=True, filter=_filter(filter))
            )
            hits = response.hits
            if len(hits) < limit:  # every value fitted: done
                # a deleted value can linger in the index with a count of 0
                return {str(hit.value): int(hit.count) for hit in hits if hit.count > 0}
            limit *= 4

    def describe(self) -> str:
        return f"embedded store at {self.path}"

    def disk_bytes(self) -> int | None:
        # Blocks actually used: the WAL files are sparse 32 MB preallocations.
        return sum(p.stat().st_blocks * 512 for p in self.path.rglob("*") if p.is_file())

    def close(self) -> None:
        shard = self._shard
        try:
            if shard is not None:
                points = self.count()
                with self._engine():
                    shard.flush()
                    shard.close()
                self._shard = None  # type: ignore[assignment]  # closed: unusable
                _write_json(self.path / STATE_FILE, {"clean": True, "points": points})
        finally:
            self._shard = None  # type: ignore[assignment]
            self._lock.release()

    @contextmanager
    def _engine(self) -> Iterator[None]:
        """Engine failures (plain `Exception`s, or pyo3 panics, which derive from
        `BaseException`) become one of our sentences."""
        try:
            yield
        except (KeyboardInterrupt, SystemExit, GeneratorExit, RetrievalError):
            raise
        except BaseException as exc:
            raise _engine_error(self.path, exc) from exc

    def __enter__(self) -> EdgeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- layout → edge config ----------------------------------------------------------------------
def _config(layout: Layout) -> qe.EdgeConfig:
    int8 = qe.ScalarQuantizationConfig(qe.ScalarType.Int8, quantile=0.99, always_ram=True)
    vectors = {
        DENSE: qe.EdgeVectorParams(
            size=layout.dense_dim,
            distance=qe.Distance.Cosine,
            quantization_config=int8 if layout.dense_quantization == "int8" else None,
        ),
        COLBERT: qe.EdgeVectorParams(
            size=layout.colbert_dim,
            distance=qe.Distance.Cosine,
            multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim),
            datatype=_DATATYPES[layout.colbert_datatype],
            quantization_config=int8 if layout.colbert_quantization == "int8" else None,
            # MaxSim only ever rescores candidates: a graph would cost time and never be used.
            hnsw_config=qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10_000),
            memory=qe.Memory.Cold if layout.colbert_on_disk else None,
        ),
    }
    if layout.muvera_dim:
        vectors[MUVERA] = qe.EdgeVectorParams(size=layout.muvera_dim, distance=qe.Distance.Cosine)
    return qe.EdgeConfig(
        vectors=vectors,
        sparse_vectors={BM25: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
    )


def _write_layout(path: Path, layout: Layout) -> None:
    # The record also lists the payload indexes, so a store made before one existed is known.
    _write_json(path, {**layout.to_dict(), "payload_indexes": list(INDEXED_FIELDS)})


def _read_indexes(path: Path) -> list[str]:
    try:
        return list(json.loads(path.read_text()).get("payload_indexes", []))
    except (OSError, ValueError, AttributeError):
        return []


def _read_layout(path: Path) -> Layout:
    try:
        return Layout.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise StoreUnavailableError(
            f"The layout record {path} is unreadable ({exc}); delete the folder {path.parent} "
            "and ingest again, or point MSRAG_DATA_DIR at another folder."
        ) from exc


def _open(path: Path, opener: Callable[[], qe.EdgeShard]) -> qe.EdgeShard:
    try:
        shard: qe.EdgeShard = opener()
        return shard
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # edge raises Exception with the Rust text, or a pyo3 panic
        raise _engine_error(path, exc) from exc


def _engine_error(path: Path, exc: BaseException) -> RetrievalError:
    text = str(exc)
    if "WouldBlock" in text:
        # The WAL's file lock: another process has the shard open (our own lock normally
        # refuses it first).
        return StoreLockedError(
            f"The store at {path} is in use by another process (e.g. `msrag ui`); stop it "
            "or set MSRAG_DATA_DIR to another folder."
        )
    if "No space left" in text:
        return StoreFullError(
            f"The disk holding the store at {path} is full: free some space and run the "
            "command again; nothing stored so far is lost."
        )
    if "Permission denied" in text or "Read-only file system" in text:
        return StoreUnavailableError(
            f"The embedded store at {path} is not writable ({text}): make the folder writable "
            "or set MSRAG_DATA_DIR to another folder."
        )
    return StoreCorruptError(_damaged(path, text))


def _damaged(path: Path, detail: str) -> str:
    return (
        f"The embedded store at {path} is damaged and was not used ({detail}): restore the "
        "folder from a backup, or move it aside and run `msrag ingest` on your documents "
        "again (`msrag reindex` cannot help, it reads the store)."
    )


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically: a reader sees the old file or the new one, never half of it."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


# --- plan → edge request -----------------------------------------------------------------------
def _edge_vectors(vectors: dict[str, Any]) -> dict[str, Any]:
    return {name: _edge_vector(v) for name, v in vectors.items()}


def _edge_vector(vector: Any) -> Any:
    if isinstance(vector, SparseVector):
        return qe.SparseVector(vector.indices, vector.values)
    return vector


def _named(vector: Any) -> dict[str, Any]:
    # with_vector=True on a collection of named vectors: always a name → vector mapping
    return dict(vector) if isinstance(vector, dict) else {}


def _stored(vectors: dict[str, Any]) -> dict[str, Any]:
    """Edge's vectors as engine-neutral values (its sparse vectors are its own class)."""
    return {
        name: SparseVector(list(v.indices), list(v.values)) if name == BM25 else v
        for name, v in vectors.items()
    }


def _scoring(stage: Stage) -> Any:
    if stage.dbsf:
        return qe.Fusion.Dbsf()
    if stage.is_fusion:
        return qe.Fusion.Rrf(stage.rrf_k or 2)
    return qe.Query.Nearest(_edge_vector(stage.vector), using=stage.using)


def _params(stage: Stage) -> qe.SearchParams | None:
    if not (stage.exact or stage.rescore or stage.hnsw_ef):
        return None
    return qe.SearchParams(
        exact=stage.exact,
        hnsw_ef=stage.hnsw_ef,
        quantization=qe.QuantizationSearchParams(rescore=True) if stage.rescore else None,
    )


def _prefetch(stage: Stage) -> qe.Prefetch:
    return qe.Prefetch(
        limit=stage.limit,
        query=_scoring(stage),
        prefetches=[_prefetch(child) for child in stage.children] or None,
        params=_params(stage),
        filter=_filter(stage.filter),
    )


def _filter(filter: Filter | None) -> qe.Filter | None:
    if not filter:
        return None
    # Any: the engine's lists are invariant unions of every condition kind
    must: list[Any] = [_condition(key, value) for key, value in filter.must.items()]
    allowed = filter.access_condition()
    if allowed is not None:
        # Its own condition, ANDed with the caller's: nothing in `must` can replace it.
        must.append(qe.FieldCondition(GROUPS_FIELD, match=qe.MatchAny(list(allowed))))
    must_not: list[Any] = [_condition(key, value) for key, value in filter.must_not.items()]
    return qe.Filter(must=must or None, must_not=must_not or None)


def _condition(key: str, value: Any) -> qe.FieldCondition:
    if isinstance(value, list):
        return qe.FieldCondition(key, match=qe.MatchAny(list(value)))
    return qe.FieldCondition(key, match=qe.MatchValue(value))


def _colbert(vector: Any) -> np.ndarray | None:
    if not isinstance(vector, dict) or COLBERT not in vector:
        return None
    return np.asarray(vector[COLBERT], dtype=np.float32)
