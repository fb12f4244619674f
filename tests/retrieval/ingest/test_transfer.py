"""Moving a collection between qdrant-edge, qdrant-client (the server's API) and a file.

No Qdrant server can run on this machine, so the server side is qdrant-client's local mode
(`:memory:` and `path=`), which speaks the same client API; with QDRANT_URL set, the round trip
also runs against that real server (`tests/qdrant_servers.py`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from msrag.settings import Settings
from retrieval.ingest.transfer import (
    PAGE_POINTS,
    FileEndpoint,
    StoreEndpoint,
    TransferError,
    checkpoint_path,
    transfer,
    verify,
)
from retrieval.schema import Layout
from retrieval.stores import EdgeStore, Store
from retrieval.types import Filter, StoredPoint
from tests.qdrant_servers import ServerBackend
from tests.retrieval.stores.conftest import Corpus, make_corpus, make_layout

N_POINTS = 300  # > 2 pages


def _settings(tmp_path: Path, data: str = "data", **values: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / data, **values)  # type: ignore[call-arg]


def _all_points(store: Store) -> dict[str, StoredPoint]:
    points: dict[str, StoredPoint] = {}
    cursor = None
    while True:
        page, cursor = store.scroll_points(100, cursor)
        points.update((p.id, p) for p in page)
        if cursor is None:
            return points


# Cosine collections normalise vectors on every upsert. Stored float16 rows are not exactly unit
# length, so another engine renormalises them (qdrant-client's local mode then keeps float32;
# a server rounds to float16 again): values move by at most about one float16 step (2.4e-4 at
# 0.5). Between two qdrant-edge stores (directly or through a file) the values are identical.
ACROSS_ENGINES = 5e-4


def assert_same_points(a: Store, b: Store, atol: float = 0.0) -> None:
    """Every point and payload identical, every stored vector value within `atol`."""
    pa, pb = _all_points(a), _all_points(b)
    assert set(pa) == set(pb)
    for pid, p in pa.items():
        q = pb[pid]
        assert p.payload == q.payload
        assert set(p.vectors) == set(q.vectors)
        for name, v in p.vectors.items():
            w = q.vectors[name]
            if name == "bm25":
                assert v.indices == w.indices
                np.testing.assert_array_equal(
                    np.float32(v.values), np.float32(w.values), err_msg=name
                )
            else:
                np.testing.assert_allclose(
                    np.asarray(v, np.float32),
                    np.asarray(w, np.float32),
                    rtol=0,
                    atol=atol,
                    err_msg=name,
                )


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return make_corpus(n=N_POINTS)


@pytest.fixture
def edge_source(tmp_path: Path, corpus: Corpus) -> Iterator[StoreEndpoint]:
    """An embedded store (float16 token vectors, MUVERA on) holding the synthetic corpus."""
    settings = _settings(tmp_path, "source")
    with EdgeStore(
        settings.store_path, make_layout(muvera_dim=64, colbert_datatype="float16")
    ) as s:
        s.upsert(corpus.chunks, corpus.vectors)
    endpoint = StoreEndpoint(settings).open_existing()
    yield endpoint
    endpoint.close()


class TestStorePoints:
    """`scroll_points` / `upsert_points`: the Store methods the transfer is built on."""

    def test_pages_cover_every_point_once_and_resume_from_a_saved_offset(
        self, edge_source: StoreEndpoint, corpus: Corpus
    ) -> None:
        store = edge_source.store
        assert store is not None
        first, cursor = store.scroll_points(120)
        assert len(first) == 120 and isinstance(cursor, str)
        rest: list[StoredPoint] = []
        while cursor is not None:  # the offset is a plain string: it survives a restart
            page, cursor = store.scroll_points(120, json.loads(json.dumps(cursor)))
            rest.extend(page)
        ids = [p.id for p in first + rest]
        assert sorted(ids) == sorted(c.id for c in corpus.chunks)
        assert len(set(ids)) == len(ids)

    def test_points_carry_payload_and_every_stored_vector(
        self, edge_source: StoreEndpoint, corpus: Corpus
    ) -> None:
        assert edge_source.store is not None
        points = _all_points(edge_source.store)
        by_id = {c.id: (c, v) for c, v in zip(corpus.chunks, corpus.vectors, strict=True)}
        for pid, point in points.items():
            chunk, vectors = by_id[pid]
            assert point.payload == chunk.payload()
            assert set(point.vectors) == {"dense", "bm25", "colbert", "muvera"}
            assert point.vectors["bm25"].indices == vectors.sparse.indices
            colbert = np.asarray(point.vectors["colbert"], np.float32)
            assert colbert.shape == vectors.colbert.shape
            # cosine: stored unit-length; float16 storage: float16 values of those
            np.testing.assert_array_equal(colbert, colbert.astype(np.float16).astype(np.float32))
            unit = vectors.colbert / np.linalg.norm(vectors.colbert, axis=1, keepdims=True)
            np.testing.assert_allclose(colbert, unit, atol=1e-3)

    @pytest.mark.parametrize("kind", ["edge", "client"])
    def test_upsert_points_stores_them_unchanged(
        self, edge_source: StoreEndpoint, tmp_path: Path, kind: str
    ) -> None:
        assert edge_source.store is not None
        layout = edge_source.store.layout
        target: Store
        if kind == "edge":
            target = EdgeStore(tmp_path / "copy", layout)
        else:
            from retrieval.stores import ServerStore

            target = ServerStore(QdrantClient(":memory:"), "copy", layout)
        with target:  # type: ignore[attr-defined]
            target.upsert_points(list(_all_points(edge_source.store).values()))
            assert_same_points(edge_source.store, target, 0.0 if kind == "edge" else ACROSS_ENGINES)


class TestThroughAServer:
    """Edge → server → a fresh edge store; with QDRANT_URL set, also through that real server."""

    def test_round_trip_keeps_every_point_and_every_ranking(
        self, edge_source: StoreEndpoint, tmp_path: Path, server_backend: ServerBackend
    ) -> None:
        client = server_backend.client()
        server_settings = _settings(
            tmp_path, "ignored", collection=server_backend.collection(client)
        )
        to_server = StoreEndpoint(server_settings, client=client)
        report = transfer(edge_source, to_server, checkpoint=tmp_path / "ckpt.json")
        assert report.ok, report.mismatches
        assert report.source_count == report.target_count == N_POINTS
        assert report.written == N_POINTS and report.resumed_after == 0
        assert report.verified == 20
        assert "muvera+colbert" in report.modes and "hybrid+colbert" in report.modes
        assert to_server.store is not None and edge_source.store is not None
        assert_same_points(edge_source.store, to_server.store, ACROSS_ENGINES)
        assert not (tmp_path / "ckpt.json").exists()
        to_server.close()

        # ...and back to a laptop: a fresh embedded store from the server's collection.
        from_server = StoreEndpoint(server_settings, client=client).open_existing()
        laptop = StoreEndpoint(_settings(tmp_path, "laptop"))
        back = transfer(from_server, laptop, checkpoint=tmp_path / "ckpt2.json")
        assert back.ok, back.mismatches
        assert laptop.store is not None
        assert_same_points(edge_source.store, laptop.store, ACROSS_ENGINES)
        assert laptop.store.layout == edge_source.store.layout
        laptop.close()
        from_server.close()


class TestEdgeToServerAndBack:
    def test_server_stand_in_persisted_with_path(
        self, edge_source: StoreEndpoint, tmp_path: Path
    ) -> None:
        # qdrant-client's `path=` mode keeps the collection on disk (float64, pickled): the
        # reverse direction reads it back after the writing client is gone.
        client = QdrantClient(path=str(tmp_path / "local-qdrant"))
        settings = _settings(tmp_path, "ignored")
        target = StoreEndpoint(settings, client=client)
        assert transfer(edge_source, target, checkpoint=tmp_path / "c.json").ok
        target.close()
        client.close()
        reopened = QdrantClient(path=str(tmp_path / "local-qdrant"))
        source = StoreEndpoint(settings, client=reopened).open_existing()
        laptop = StoreEndpoint(_settings(tmp_path, "laptop"))
        report = transfer(source, laptop, checkpoint=tmp_path / "c2.json")
        assert report.ok, report.mismatches
        assert edge_source.store is not None and laptop.store is not None
        assert_same_points(edge_source.store, laptop.store, ACROSS_ENGINES)
        laptop.close()
        source.close()
        reopened.close()

    def test_an_interrupted_transfer_resumes_where_it_stopped(
        self, edge_source: StoreEndpoint, tmp_path: Path
    ) -> None:
        client = QdrantClient(":memory:")
        settings = _settings(tmp_path, "ignored")
        target = StoreEndpoint(settings, client=client)
        checkpoint = tmp_path / "ckpt.json"

        def die_after_two_pages(done: int, total: int) -> None:
            if done >= 2 * PAGE_POINTS:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            transfer(edge_source, target, checkpoint=checkpoint, progress=die_after_two_pages)
        target.close()
        state = json.loads(checkpoint.read_text())
        assert state["written"] == 2 * PAGE_POINTS and state["cursor"]

        again = StoreEndpoint(settings, client=client)
        report = transfer(edge_source, again, checkpoint=checkpoint)
        assert report.resumed_after == 2 * PAGE_POINTS
        assert report.written == N_POINTS - 2 * PAGE_POINTS  # nothing sent twice
        assert report.ok and report.target_count == N_POINTS
        again.close()

    def test_refuses_a_target_that_already_holds_points(
        self, edge_source: StoreEndpoint, tmp_path: Path
    ) -> None:
        client = QdrantClient(":memory:")
        settings = _settings(tmp_path, "ignored")
        first = StoreEndpoint(settings, client=client)
        transfer(edge_source, first, checkpoint=tmp_path / "a.json")
        first.close()
        with pytest.raises(TransferError, match=r"already holds 300 points.*another collection"):
            transfer(edge_source, StoreEndpoint(settings, client=client), checkpoint=tmp_path / "b")

    def test_a_target_with_another_layout_is_refused_by_the_layout_check(
        self, edge_source: StoreEndpoint, tmp_path: Path
    ) -> None:
        from retrieval.errors import LayoutMismatchError

        settings = _settings(tmp_path, "other")
        EdgeStore(settings.store_path, make_layout()).close()  # float32, no MUVERA
        with pytest.raises(LayoutMismatchError, match="msrag reindex"):
            transfer(edge_source, StoreEndpoint(settings), checkpoint=tmp_path / "c.json")

    def test_verification_catches_a_store_that_differs(
        self, edge_source: StoreEndpoint, tmp_path: Path
    ) -> None:
        client = QdrantClient(":memory:")
        target = StoreEndpoint(_settings(tmp_path, "ignored"), client=client)
        transfer(edge_source, target, checkpoint=tmp_path / "c.json")
        assert target.store is not None and edge_source.store is not None
        target.store.delete(Filter(must={"source": "docs/beta.pdf"}))
        modes, queries, mismatches = verify(edge_source.store, target.store)
        assert queries == 20 and mismatches
        assert any(line.startswith("dense,") for line in mismatches)
        target.close()


class TestFile:
    def test_export_to_a_file_and_import_it_bit_for_bit(
        self, edge_source: StoreEndpoint, tmp_path: Path
    ) -> None:
        dump = tmp_path / "store.msrag.jsonl"
        report = transfer(edge_source, FileEndpoint(dump), checkpoint=tmp_path / "c.json")
        assert report.ok and report.target_count == N_POINTS and report.verified == 0
        lines = dump.read_bytes().splitlines()
        header = json.loads(lines[0])
        assert header["format"] == "msrag-export" and header["points"] == N_POINTS
        assert edge_source.store is not None
        assert Layout.from_dict(header["layout"]) == edge_source.store.layout
        first = json.loads(lines[1])
        # float16 storage travels as float16: half the bytes, the same values
        assert first["vectors"]["colbert"]["dtype"] == "float16"
        assert first["vectors"]["dense"]["dtype"] == "float32"
        size = len(base64.b64decode(first["vectors"]["colbert"]["data"]))
        assert size == 2 * np.prod(first["vectors"]["colbert"]["shape"])

        laptop = StoreEndpoint(_settings(tmp_path, "laptop"))
        back = transfer(FileEndpoint(dump).open_existing(), laptop, checkpoint=tmp_path / "d")
        assert back.ok and back.target_count == N_POINTS
        assert laptop.store is not None
        assert_same_points(edge_source.store, laptop.store)
        laptop.close()

    def test_an_interrupted_export_resumes_and_a_partial_file_is_never_imported(
        self, edge_source: StoreEndpoint, tmp_path: Path
    ) -> None:
        dump = tmp_path / "store.jsonl"
        checkpoint = tmp_path / "c.json"

        def die(done: int, total: int) -> None:
            if done >= PAGE_POINTS:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            transfer(edge_source, FileEndpoint(dump), checkpoint=checkpoint, progress=die)
        with pytest.raises(TransferError, match=f"holds {PAGE_POINTS} of its 300 points"):
            FileEndpoint(dump).open_existing()
        # A torn last line (killed mid-write) is cut back to the checkpoint on resume.
        with dump.open("ab") as f:
            f.write(b'{"id": "half a poi')
        report = transfer(edge_source, FileEndpoint(dump), checkpoint=checkpoint)
        assert report.resumed_after == PAGE_POINTS and report.ok
        laptop = StoreEndpoint(_settings(tmp_path, "laptop"))
        transfer(FileEndpoint(dump).open_existing(), laptop, checkpoint=tmp_path / "d")
        assert edge_source.store is not None and laptop.store is not None
        assert_same_points(edge_source.store, laptop.store)
        laptop.close()

    def test_refuses_to_overwrite_and_to_read_a_foreign_file(
        self, edge_source: StoreEndpoint, tmp_path: Path
    ) -> None:
        other = tmp_path / "notes.txt"
        other.write_text("hello\n")
        with pytest.raises(TransferError, match="already exists"):
            transfer(edge_source, FileEndpoint(other), checkpoint=tmp_path / "c.json")
        with pytest.raises(TransferError, match="not a readable msrag export"):
            FileEndpoint(other).open_existing()


def test_checkpoints_are_named_per_source_and_target(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    a = checkpoint_path(settings, StoreEndpoint(settings), FileEndpoint(tmp_path / "x"))
    b = checkpoint_path(settings, StoreEndpoint(settings), FileEndpoint(tmp_path / "y"))
    assert a != b and a.parent == settings.data_dir
