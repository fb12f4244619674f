"""`ServerStore`: our layout in a collection of a Qdrant server or cluster, through qdrant-client.

Used when `QDRANT_URL` is set, and in tests with `QdrantClient(":memory:")` (qdrant-client's
local mode: exact numpy, same API). The layout is kept in the collection's `metadata`, so every
client that opens the collection checks it, wherever it runs.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from retrieval.access import GROUPS_FIELD, PUBLIC, stored_groups
from retrieval.errors import LayoutMismatchError, StoreUnavailableError
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
from retrieval.stores.retrying import RetryingClient
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

LAYOUT_KEY = "msrag_layout"
_SCROLL_PAGE = 512
_FACET_PAGE = 10_000  # values per facet request; raised until every value fits
# Floats per upsert request: keeps a JSON body well under the server's 32 MB default limit.
_FLOATS_PER_REQUEST = 500_000
_DATATYPES = {
    "float32": models.Datatype.FLOAT32,
    "float16": models.Datatype.FLOAT16,
    "uint8": models.Datatype.UINT8,
}


def connect(settings: RetrievalSettings) -> QdrantClient:
    """A client for the server at `QDRANT_URL` with `QDRANT_API_KEY`."""
    if not settings.qdrant_url:
        raise ValueError("A Qdrant server connection needs QDRANT_URL.")
    key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    with warnings.catch_warnings():
        # "Api key is used with an insecure connection": the user's choice on a LAN.
        warnings.simplefilter("ignore", UserWarning)
        # The version check would only print a warning for an unreachable server; our first
        # call says so as a clear error instead.
        return QdrantClient(url=settings.qdrant_url, api_key=key, check_compatibility=False)


@dataclass(frozen=True)
class CollectionOptions:
    """How a new server collection is distributed and stored (the server's default when None).

    Not part of the layout: sharding, replication and on-disk storage change where points live
    and what survives a lost node, never what a query returns.
    """

    shard_number: int | None = None
    replication_factor: int | None = None
    write_consistency_factor: int | None = None
    on_disk_payload: bool | None = None
    dense_on_disk: bool | None = None

    @classmethod
    def from_settings(cls, settings: RetrievalSettings) -> CollectionOptions:
        return cls(
            shard_number=settings.shard_number,
            replication_factor=settings.replication_factor,
            write_consistency_factor=settings.write_consistency_factor,
            on_disk_payload=settings.on_disk_payload,
            dense_on_disk=settings.dense_on_disk,
        )


class ServerStore:
    """Our collection layout in collection `collection` of the Qdrant behind `client`.

        store = ServerStore(QdrantClient(":memory:"), "msrag", layout)
        store = ServerStore.from_settings(settings, layout)  # QDRANT_URL, QDRANT_API_KEY

        store.query(QueryPlan("hybrid+colbert", query_vectors, top_k=5))

    The collection is created on first open; afterwards its stored layout must match.
    """

    def __init__(
        self,
        client: QdrantClient,
        collection: str,
        layout: Layout,
        *,
        url: str | None = None,
        owns_client: bool = False,
        options: CollectionOptions | None = None,
    ) -> None:
        self.client = client
        self.options = options or CollectionOptions()
        self.collection = collection
        self.layout = layout
        self.url = url or client.init_options.get("url") or client.init_options.get("location")
        self._owns_client = owns_client
        self._local = client.init_options.get("url") is None and (
            client.init_options.get("location") == ":memory:" or client.init_options.get("path")
        )
        with self._calls():
            if client.collection_exists(collection):
                self._check_layout()
                self._ensure_groups()
            else:
                self._create()

    @classmethod
    def from_settings(
        cls, settings: RetrievalSettings, layout: Layout, client: QdrantClient | None = None
    ) -> ServerStore:
        """The collection `settings.collection` at `QDRANT_URL` (or in the client given)."""
        options = CollectionOptions.from_settings(settings)
        if client is not None:
            return cls(client, settings.collection, layout, options=options)
        # Every call retries while the server is unreachable (bounded: MSRAG_QDRANT_RETRIES).
        retrying = cast(
            QdrantClient,
            RetryingClient(
                connect(settings),
                retries=settings.qdrant_retries,
                backoff_s=settings.qdrant_backoff_s,
            ),
        )
        return cls(
            retrying,
            settings.collection,
            layout,
            url=settings.qdrant_url,
            owns_client=True,
            options=options,
        )

    @staticmethod
    def read_layout(client: QdrantClient, collection: str) -> Layout | None:
        """The layout `collection` was created with (None if it does not exist)."""
        if not client.collection_exists(collection):
            return None
        stored = (client.get_collection(collection).config.metadata or {}).get(LAYOUT_KEY)
        return Layout.from_dict(stored) if isinstance(stored, dict) else None

    def drop(self) -> None:
        """Delete the whole collection (`msrag reindex` rebuilds it from its text)."""
        with self._calls():
            self.client.delete_collection(self.collection)

    # --- creation and the layout check ------------------------------------------------------
    def _create(self) -> None:
        layout = self.layout
        int8 = models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(
                type=models.ScalarType.INT8, quantile=0.99, always_ram=True
            )
        )
        vectors = {
            DENSE: models.VectorParams(
                size=layout.dense_dim,
                distance=models.Distance.COSINE,
                quantization_config=int8 if layout.dense_quantization == "int8" else None,
                on_disk=self.options.dense_on_disk,
            ),
            COLBERT: models.VectorParams(
                size=layout.colbert_dim,
                distance=models.Distance.COSINE,
                multivector_config=models.MultiVectorConfig(
                    comparator=models.MultiVectorComparator.MAX_SIM
                ),
                datatype=_DATATYPES[layout.colbert_datatype],
                quantization_config=int8 if layout.colbert_quantization == "int8" else None,
                # MaxSim only ever rescores candidates: a graph would cost time, never be used.
                hnsw_config=models.HnswConfigDiff(m=0),
                on_disk=layout.colbert_on_disk or None,
            ),
        }
        if layout.muvera_dim:
            vectors[MUVERA] = models.VectorParams(
                size=layout.muvera_dim, distance=models.Distance.COSINE
            )
        with self._quiet_local():
            self.client.create_collection(
                self.collection,
                vectors_config=vectors,
                sparse_vectors_config={
                    BM25: models.SparseVectorParams(modifier=models.Modifier.IDF)
                },
                metadata={LAYOUT_KEY: layout.to_dict()},
                shard_number=self.options.shard_number,
                replication_factor=self.options.replication_factor,
                write_consistency_factor=self.options.write_consistency_factor,
                on_disk_payload=self.options.on_disk_payload,
            )
            for field in INDEXED_FIELDS:
                self.client.create_payload_index(
                    self.collection, field, models.PayloadSchemaType.KEYWORD, wait=True
                )
            for field in INTEGER_INDEXED_FIELDS:
                self.client.create_payload_index(
                    self.collection, field, models.PayloadSchemaType.INTEGER, wait=True
                )

    def _ensure_integer_indexes(self, have: set[str]) -> None:
        """Integer indexes a collection made by an older msrag lacks (created once, here)."""
        with self._quiet_local():
            for field in INTEGER_INDEXED_FIELDS:
                if field not in have:
                    self.client.create_payload_index(
                        self.collection, field, models.PayloadSchemaType.INTEGER, wait=True
                    )

    def _check_layout(self) -> None:
        info = self.client.get_collection(self.collection)
        stored = (info.config.metadata or {}).get(LAYOUT_KEY)
        if not isinstance(stored, dict):
            raise LayoutMismatchError(
                f"The collection {self.collection!r} at {self.url} has no msrag layout record: "
                "it was not created by msrag, or by a Qdrant server older than 1.16 (which drops "
                "collection metadata). Set MSRAG_COLLECTION to another name, or upgrade Qdrant."
            )
        self.layout = Layout.from_dict(stored).check_compatible(
            self.layout, f"{self.url} (collection {self.collection!r})"
        )
        if not self._local:  # local mode keeps no payload indexes: nothing to add
            self._ensure_integer_indexes(set(info.payload_schema or {}))

    def _ensure_groups(self) -> None:
        """Bring a collection from before access groups up to date: index `groups` and mark
        every point without it PUBLIC (what it was: visible to everyone). Payload only."""
        info = self.client.get_collection(self.collection)
        if GROUPS_FIELD in (info.payload_schema or {}):
            return
        with self._quiet_local():
            self.client.create_payload_index(
                self.collection, GROUPS_FIELD, models.PayloadSchemaType.KEYWORD, wait=True
            )
            self.client.set_payload(
                self.collection,
                payload={GROUPS_FIELD: [PUBLIC]},
                points=models.FilterSelector(
                    filter=models.Filter(
                        must=[
                            models.IsEmptyCondition(is_empty=models.PayloadField(key=GROUPS_FIELD))
                        ]
                    )
                ),
                wait=True,
            )

    # --- writes -----------------------------------------------------------------------------
    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[ChunkVectors]) -> None:
        if len(chunks) != len(vectors):
            raise ValueError(f"Got {len(chunks)} chunks but {len(vectors)} vector sets.")
        self.upsert_points(
            [
                StoredPoint(chunk.id, chunk.payload(), stored_vectors(vec, self.layout))
                for chunk, vec in zip(chunks, vectors, strict=True)
            ]
        )

    def upsert_points(self, points: Sequence[StoredPoint]) -> None:
        batch: list[models.PointStruct] = []
        floats = 0
        for point in points:
            batch.append(
                models.PointStruct(
                    id=point.id, vector=_client_vectors(point.vectors), payload=point.payload
                )
            )
            floats += sum(_size(v) for v in point.vectors.values())
            if floats >= _FLOATS_PER_REQUEST:
                self._upsert(batch)
                batch, floats = [], 0
        if batch:
            self._upsert(batch)

    def _upsert(self, points: list[models.PointStruct]) -> None:
        with self._calls():
            # wait=True: the call returns once the server has applied (and logged) the points.
            self.client.upsert(self.collection, points=points, wait=True)

    def delete(self, filter: Filter) -> None:
        if not filter:
            raise ValueError("delete() needs a non-empty filter; refusing to delete everything.")
        with self._calls():
            self.client.delete(
                self.collection,
                points_selector=models.FilterSelector(filter=_required(_filter(filter))),
                wait=True,
            )

    def set_payload(self, filter: Filter, values: dict[str, Any]) -> None:
        if not filter:
            raise ValueError("set_payload() needs a non-empty filter.")
        with self._calls():
            flt = _filter(filter)
            assert flt is not None  # non-empty, checked above
            self.client.set_payload(self.collection, payload=dict(values), points=flt, wait=True)

    def set_groups(self, filter: Filter, groups: Sequence[str]) -> None:
        if not filter:
            raise ValueError(
                "set_groups() needs a non-empty filter; refusing to change every point."
            )
        with self._calls():
            self.client.set_payload(
                self.collection,
                payload={GROUPS_FIELD: stored_groups(groups)},
                points=models.FilterSelector(filter=_required(_filter(filter))),
                wait=True,
            )

    def optimize(self) -> None:
        """Nothing to do: the server builds its indexes in the background."""

    # --- reads ------------------------------------------------------------------------------
    def query(self, plan: QueryPlan) -> list[Passage]:
        root = render(plan, self.layout)
        with self._calls(), self._quiet_local():
            response = self.client.query_points(
                self.collection,
                query=_query(root),
                using=root.using,
                prefetch=[_prefetch(child) for child in root.children] or None,
                query_filter=_filter(root.filter),
                search_params=_params(root),
                limit=root.limit,
                with_payload=True,
                with_vectors=[COLBERT] if plan.with_vectors else False,
            )
        return [
            Passage.from_payload(
                str(hit.id),
                float(hit.score),
                hit.payload or {},
                rank=rank,
                mode=plan.mode,
                colbert=_colbert(hit.vector) if plan.with_vectors else None,
            )
            for rank, hit in enumerate(response.points, start=1)
        ]

    def count(self, filter: Filter | None = None) -> int:
        with self._calls():
            return self.client.count(
                self.collection, count_filter=_filter(filter), exact=True
            ).count

    def scroll_payloads(
        self, fields: Sequence[str], filter: Filter | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        offset: Any = None
        while True:
            with self._calls():
                records, offset = self.client.scroll(
                    self.collection,
                    scroll_filter=_filter(filter),
                    limit=_SCROLL_PAGE,
                    offset=offset,
                    with_payload=list(fields) if fields else False,
                    with_vectors=False,
                )
            for record in records:
                yield str(record.id), dict(record.payload or {})
            if offset is None:
                return

    def facet(self, field: str, filter: Filter | None = None) -> dict[str, int]:
        limit = _FACET_PAGE
        while True:
            with self._calls():
                response = self.client.facet(
                    self.collection, field, facet_filter=_filter(filter), limit=limit, exact=True
                )
            hits = response.hits
            if len(hits) < limit:  # every value fitted: done
                # a deleted value can linger in the index with a count of 0
                return {str(hit.value): int(hit.count) for hit in hits if hit.count > 0}
            limit *= 4

    def scroll_points(
        self, limit: int, offset: str | None = None
    ) -> tuple[list[StoredPoint], str | None]:
        with self._calls():
            records, next_offset = self.client.scroll(
                self.collection, limit=limit, offset=offset, with_payload=True, with_vectors=True
            )
        points = [
            StoredPoint(str(r.id), dict(r.payload or {}), _stored(r.vector or {})) for r in records
        ]
        return points, None if next_offset is None else str(next_offset)

    def describe(self) -> str:
        if self._local:
            return f"qdrant-client local mode ({self.url}), collection {self.collection!r}"
        return f"Qdrant server at {self.url}, collection {self.collection!r}"

    def disk_bytes(self) -> int | None:
        return None  # the server's disk is not ours to measure

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> ServerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- error translation ------------------------------------------------------------------
    def _calls(self) -> AbstractContextManager[None]:
        return server_errors(self.url)

    @contextmanager
    def _quiet_local(self) -> Iterator[None]:
        # Local mode warns that it ignores quantization, on_disk, payload indexes and search
        # params (it is always exact); those settings are for real servers, harmless here.
        with warnings.catch_warnings():
            if self._local:
                warnings.simplefilter("ignore", UserWarning)
            yield


@contextmanager
def server_errors(url: str | None) -> Iterator[None]:
    """Turn connection and authentication failures into one actionable error."""
    try:
        yield
    except ResponseHandlingException as exc:  # httpx could not connect / timed out
        raise StoreUnavailableError(
            f"Qdrant at {url} is unreachable ({exc.source}): "
            "start it, check QDRANT_API_KEY, or unset QDRANT_URL to use the embedded store."
        ) from exc
    except UnexpectedResponse as exc:
        if exc.status_code in (401, 403):
            raise StoreUnavailableError(
                f"Qdrant at {url} refused the request (HTTP {exc.status_code}): check "
                "QDRANT_API_KEY, or unset QDRANT_URL to use the embedded store."
            ) from exc
        raise


# --- plan → qdrant-client models ---------------------------------------------------------------
def _client_vectors(named: dict[str, Any]) -> dict[str, Any]:
    return {name: _client_vector(v) for name, v in named.items()}


def _client_vector(vector: Any) -> Any:
    if isinstance(vector, SparseVector):
        return models.SparseVector(indices=vector.indices, values=vector.values)
    return vector


def _stored(vectors: Any) -> dict[str, Any]:
    """qdrant-client's vectors as engine-neutral values (plain floats: `path=` mode keeps numpy
    float64 arrays)."""
    out: dict[str, Any] = {}
    for name, v in dict(vectors).items():
        if isinstance(v, models.SparseVector):
            out[name] = SparseVector([int(i) for i in v.indices], [float(x) for x in v.values])
        else:
            out[name] = np.asarray(v, dtype=np.float64).tolist()
    return out


def _size(vector: Any) -> int:
    if isinstance(vector, SparseVector):
        return 2 * len(vector.indices)
    if vector and isinstance(vector[0], list):
        return len(vector) * len(vector[0])
    return len(vector)


def _query(stage: Stage) -> Any:
    if stage.dbsf:
        return models.FusionQuery(fusion=models.Fusion.DBSF)
    if stage.is_fusion:
        return models.RrfQuery(rrf=models.Rrf(k=stage.rrf_k))
    return _client_vector(stage.vector)


def _params(stage: Stage) -> models.SearchParams | None:
    if not (stage.exact or stage.rescore or stage.hnsw_ef):
        return None
    return models.SearchParams(
        exact=stage.exact,
        hnsw_ef=stage.hnsw_ef,
        quantization=models.QuantizationSearchParams(rescore=True) if stage.rescore else None,
    )


def _prefetch(stage: Stage) -> models.Prefetch:
    return models.Prefetch(
        query=_query(stage),
        using=stage.using,
        prefetch=[_prefetch(child) for child in stage.children] or None,
        filter=_filter(stage.filter),
        params=_params(stage),
        limit=stage.limit,
    )


def _required(flt: models.Filter | None) -> models.Filter:
    if flt is None:  # callers check first; deleting with no filter would delete everything
        raise ValueError("A filter is required here.")
    return flt


def _filter(filter: Filter | None) -> models.Filter | None:
    if not filter:
        return None
    # Any: the engine's lists are invariant unions of every condition kind
    must: list[Any] = [_condition(key, value) for key, value in filter.must.items()]
    allowed = filter.access_condition()
    if allowed is not None:
        # Its own condition, ANDed with the caller's: nothing in `must` can replace it.
        must.append(
            models.FieldCondition(key=GROUPS_FIELD, match=models.MatchAny(any=list(allowed)))
        )
    must_not: list[Any] = [_condition(key, value) for key, value in filter.must_not.items()]
    return models.Filter(must=must or None, must_not=must_not or None)


def _condition(key: str, value: Any) -> models.FieldCondition:
    if isinstance(value, list):
        return models.FieldCondition(key=key, match=models.MatchAny(any=list(value)))
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _colbert(vector: Any) -> np.ndarray | None:
    if not isinstance(vector, dict) or COLBERT not in vector:
        return None
    return np.asarray(vector[COLBERT], dtype=np.float32)
