"""ServerStore through qdrant-client: local mode for behaviour, real sockets for failures.

No Qdrant server can run on this machine (see the engine notes), so the behaviour runs in
qdrant-client's local mode (the same client API a server gets), and the failure paths are
exercised against a closed port and a real HTTP server that answers 403.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from qdrant_client import QdrantClient, models

from msrag.settings import Settings
from retrieval.errors import LayoutMismatchError, StoreUnavailableError
from retrieval.schema import Layout
from retrieval.stores import ServerStore, open_store
from retrieval.stores.server import LAYOUT_KEY
from tests.retrieval.stores.conftest import Corpus, StoreContract, make_layout


@pytest.fixture(scope="module")
def store(layout: Layout, corpus: Corpus) -> Iterator[ServerStore]:
    with ServerStore(QdrantClient(":memory:"), "msrag", layout) as store:
        store.upsert(corpus.chunks, corpus.vectors)
        store.optimize()
        yield store


@pytest.fixture
def empty_store(layout: Layout) -> Iterator[ServerStore]:
    with ServerStore(QdrantClient(":memory:"), "msrag", layout) as store:
        yield store


@pytest.fixture
def no_muvera_store() -> Iterator[ServerStore]:
    with ServerStore(QdrantClient(":memory:"), "msrag", make_layout()) as store:
        yield store


class TestServerContract(StoreContract):
    """The shared behaviour, through qdrant-client."""


def _settings(tmp_path: Path, url: str, key: str | None = None) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path, QDRANT_URL=url, QDRANT_API_KEY=key
    )


class TestLayout:
    def test_layout_round_trips_in_collection_metadata(self, layout: Layout) -> None:
        client = QdrantClient(":memory:")
        ServerStore(client, "c", layout)
        metadata = client.get_collection("c").config.metadata
        assert Layout.from_dict(metadata[LAYOUT_KEY]) == layout

    def test_layout_survives_reopening_a_persisted_client(
        self, tmp_path: Path, layout: Layout, corpus: Corpus
    ) -> None:
        client = QdrantClient(path=str(tmp_path / "local"))
        ServerStore(client, "c", layout).upsert(corpus.chunks[:20], corpus.vectors[:20])
        client.close()
        client = QdrantClient(path=str(tmp_path / "local"))
        try:
            store = ServerStore(client, "c", layout)
            assert store.count() == 20
            with pytest.raises(LayoutMismatchError, match="dense_dim: stored 384 → configured 768"):
                ServerStore(client, "c", make_layout(muvera_dim=64, dense_dim=768))
        finally:
            client.close()

    def test_other_layout_names_the_difference(self, layout: Layout) -> None:
        client = QdrantClient(":memory:")
        ServerStore(client, "c", layout)
        with pytest.raises(LayoutMismatchError) as err:
            ServerStore(client, "c", make_layout(muvera_dim=64, colbert_model="other/colbert"))
        message = str(err.value)
        assert "colbert_model: stored 'synthetic-colbert' → configured 'other/colbert'" in message
        assert "collection 'c'" in message
        assert "msrag reindex" in message

    def test_collection_without_layout_record_is_refused(self, layout: Layout) -> None:
        client = QdrantClient(":memory:")
        client.create_collection(
            "foreign", vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT)
        )
        with pytest.raises(LayoutMismatchError, match="no msrag layout record"):
            ServerStore(client, "foreign", layout)

    def test_describe_and_disk_bytes(self, store: ServerStore) -> None:
        assert store.describe() == "qdrant-client local mode (:memory:), collection 'msrag'"
        assert store.disk_bytes() is None


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def forbidding_server() -> Iterator[str]:
    """A real HTTP server that answers every request like Qdrant with a wrong API key."""

    class Forbid(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's naming
            body = b'{"status": {"error": "Invalid api-key"}}'
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forbid)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class TestUnavailable:
    def test_closed_port_is_a_clear_error(self, tmp_path: Path, layout: Layout) -> None:
        url = f"http://127.0.0.1:{_closed_port()}"
        with pytest.raises(StoreUnavailableError) as err:
            ServerStore.from_settings(_settings(tmp_path, url), layout)
        message = str(err.value)
        assert message.startswith(f"Qdrant at {url} is unreachable (")
        assert message.endswith(
            "start it, check QDRANT_API_KEY, or unset QDRANT_URL to use the embedded store."
        )

    def test_rejected_api_key_is_a_clear_error(
        self, tmp_path: Path, layout: Layout, forbidding_server: str
    ) -> None:
        settings = _settings(tmp_path, forbidding_server, key="wrong")
        with pytest.raises(StoreUnavailableError) as err:
            ServerStore.from_settings(settings, layout)
        # the server, its answer and the two ways out
        message = str(err.value)
        assert forbidding_server in message and "HTTP 403" in message
        assert "QDRANT_API_KEY" in message and "unset QDRANT_URL" in message


class TestOpenStore:
    def test_url_selects_the_server(self, tmp_path: Path, layout: Layout) -> None:
        url = f"http://127.0.0.1:{_closed_port()}"
        with pytest.raises(StoreUnavailableError, match="unset QDRANT_URL"):
            open_store(_settings(tmp_path, url), layout)
        assert not (tmp_path / "msrag").exists()  # no embedded store was created

    def test_a_client_selects_the_server(self, tmp_path: Path, layout: Layout) -> None:
        settings = Settings(_env_file=None, data_dir=tmp_path, collection="given")  # type: ignore[call-arg]
        client = QdrantClient(":memory:")
        store = open_store(settings, layout, client=client)
        assert isinstance(store, ServerStore)
        assert client.collection_exists("given")
        assert not (tmp_path / "given").exists()
