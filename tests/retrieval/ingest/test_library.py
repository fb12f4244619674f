"""The document library on both engines: rows from payload indexes, chunks in order, delete."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient

from msrag.settings import Settings
from retrieval.encoders import Encoders
from retrieval.errors import InvalidArgumentError
from retrieval.ingest.library import (
    UnknownDocumentError,
    chunks_of,
    delete_document,
    document,
    document_count,
    documents,
    reingest,
    sort_documents,
)
from retrieval.ingest.pipeline import ingest
from retrieval.stores import EdgeStore, ServerStore, Store, open_store
from retrieval.types import Filter
from tests.conftest import DEMO_DOCS
from tests.retrieval.stores.conftest import SOURCES, make_corpus, make_layout


@pytest.fixture(params=["edge", "server"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    layout = make_layout()
    if request.param == "edge":
        s: Any = EdgeStore(tmp_path / "shard", layout)
    else:
        s = ServerStore(QdrantClient(":memory:"), "msrag", layout)
    corpus = make_corpus(n=200, muvera_dim=None)
    s.upsert(corpus.chunks, corpus.vectors)
    yield s
    s.close()


class Spy:
    """A real store that records how it was read."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.scrolls: list[Filter | None] = []

    def scroll_payloads(self, fields: Any, filter: Filter | None = None) -> Any:
        self.scrolls.append(filter)
        return self.store.scroll_payloads(fields, filter)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


class TestCatalogue:
    def test_one_row_per_document_with_exact_chunk_counts(self, store: Store) -> None:
        rows = documents(store)
        assert [r.source for r in rows] == sorted(SOURCES)
        assert all(r.chunks == 50 for r in rows)
        assert sum(r.chunks for r in rows) == store.count()
        assert document_count(store) == len(
            {p["source"] for _, p in store.scroll_payloads(["source"])}
        )
        beta = next(r for r in rows if r.source == "docs/beta.pdf")
        assert (beta.title, beta.content_hash, beta.doc_id) == ("beta.pdf", "hash-1", "doc-1")
        assert beta.size_bytes is None and beta.ingested_at is None  # not recorded by this corpus

    def test_reads_only_through_indexes(self, store: Store) -> None:
        spy = Spy(store)
        documents(spy)  # type: ignore[arg-type]
        chunks_of(spy, "docs/alpha.md")  # type: ignore[arg-type]
        # every scroll is narrowed by an indexed field: never a pass over every point
        assert spy.scrolls and all(
            f is not None and ({"chunk_index", "source"} & set(f.must)) for f in spy.scrolls
        )

    def test_chunks_in_order_and_one_document(self, store: Store) -> None:
        chunks = chunks_of(store, "docs/gamma.html")
        assert [c.chunk_index for c in chunks] == list(range(50))
        assert chunks[0].text.startswith("synthetic passage")
        assert document(store, "docs/gamma.html").chunks == 50

    def test_delete_removes_every_chunk_and_nothing_else(self, store: Store) -> None:
        assert delete_document(store, "docs/delta.txt") == 50
        assert [r.source for r in documents(store)] == sorted(set(SOURCES) - {"docs/delta.txt"})
        assert store.count() == 150
        for ask in (lambda: delete_document(store, "docs/delta.txt"),
                    lambda: chunks_of(store, "docs/delta.txt"),
                    lambda: document(store, "docs/delta.txt")):  # fmt: skip
            with pytest.raises(UnknownDocumentError, match="No document 'docs/delta.txt'"):
                ask()

    def test_both_engines_agree(self, tmp_path: Path) -> None:
        corpus = make_corpus(n=120, muvera_dim=None)
        edge = EdgeStore(tmp_path / "shard", make_layout())
        server = ServerStore(QdrantClient(":memory:"), "msrag", make_layout())
        try:
            for s in (edge, server):
                s.upsert(corpus.chunks, corpus.vectors)
            assert documents(edge) == documents(server)
            assert chunks_of(edge, "docs/beta.pdf") == chunks_of(server, "docs/beta.pdf")
        finally:
            edge.close()
            server.close()


class TestSortAndFilter:
    def test_sort_filter_and_a_bad_key(self, store: Store) -> None:
        rows = documents(store)
        assert [r.source for r in sort_documents(rows, "-source")] == sorted(SOURCES, reverse=True)
        assert [r.source for r in sort_documents(rows, "title", "BETA")] == ["docs/beta.pdf"]
        with pytest.raises(InvalidArgumentError, match="Cannot sort by 'colour'"):
            sort_documents(rows, "colour")


class TestIngestedDocuments:
    @pytest.fixture
    def ingested(
        self, settings: Settings, encoders: Encoders, tmp_path: Path, monkeypatch
    ) -> Iterator[tuple[Store, Settings, Encoders]]:
        monkeypatch.chdir(tmp_path)
        shutil.copytree(DEMO_DOCS, tmp_path / "docs")
        encoders = encoders.configured(settings)
        s = open_store(settings, encoders.layout(settings))
        assert ingest([Path("docs")], settings, s, encoders, progress=False).ok
        yield s, settings, encoders
        s.close()

    def test_size_pages_and_ingest_time_are_recorded(self, ingested) -> None:
        store, _, _ = ingested
        rows = {r.source: r for r in documents(store)}
        assert len(rows) == 8 == document_count(store)
        pdf = rows["docs/lighthouse_history.pdf"]
        assert pdf.pages and pdf.pages >= 1
        assert pdf.size_bytes == (DEMO_DOCS / "lighthouse_history.pdf").stat().st_size
        assert rows["docs/ada_lovelace.md"].pages is None
        assert all(r.ingested_at and r.ingested_at.endswith("+00:00") for r in rows.values())
        assert sum(r.chunks for r in rows.values()) == store.count()

    def test_reingest_one(self, ingested, tmp_path: Path) -> None:
        store, settings, encoders = ingested
        assert reingest(store, "docs/office_plants.txt", settings, encoders).status == "unchanged"
        (tmp_path / "docs" / "office_plants.txt").write_text("Cacti like sun and little water.")
        result = reingest(store, "docs/office_plants.txt", settings, encoders)
        assert (result.status, result.chunks) == ("ingested", 1)
        assert "Cacti" in chunks_of(store, "docs/office_plants.txt")[0].text
        (tmp_path / "docs" / "office_plants.txt").unlink()
        with pytest.raises(UnknownDocumentError, match="is not at"):
            reingest(store, "docs/office_plants.txt", settings, encoders)
