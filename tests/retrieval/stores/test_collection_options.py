"""Sharding, replication and on-disk settings reach the server's create-collection request.

qdrant-client's local mode ignores these options (it has one shard and no replicas), so the
request is recorded by a real HTTP stand-in for the Qdrant REST API on 127.0.0.1 that answers
the three calls a new collection takes (exists?, create, payload indexes).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from msrag.settings import Settings
from retrieval.schema import Layout
from retrieval.stores import open_store
from tests.retrieval.stores.conftest import make_layout

OK: dict[str, Any] = {"status": "ok", "time": 0.0}


class _QdrantStandIn(BaseHTTPRequestHandler):
    requests: list[tuple[str, str, dict[str, Any] | None, dict[str, str]]] = []

    def _answer(self, result: Any) -> None:
        body = json.dumps({**OK, "result": result}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.requests.append((self.command, self.path, body, dict(self.headers)))
        return body

    def do_GET(self) -> None:  # http.server's method names
        self._record()
        if self.path.endswith("/exists"):
            self._answer({"exists": False})
        else:
            self._answer(None)

    def do_PUT(self) -> None:
        self._record()
        if "/index" in self.path:
            self._answer({"operation_id": 0, "status": "completed"})
        else:
            self._answer(True)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[str]:
    _QdrantStandIn.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _QdrantStandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _create_request() -> dict[str, Any]:
    [body] = [
        b
        for m, p, b, _ in _QdrantStandIn.requests
        if m == "PUT" and p.startswith("/collections/msrag") and "/index" not in p
    ]
    assert body is not None
    return body


def _settings(tmp_path: Path, url: str, **values: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, QDRANT_URL=url, **values)  # type: ignore[call-arg]


def test_cluster_options_from_settings_reach_create_collection(
    stand_in: str, tmp_path: Path
) -> None:
    layout: Layout = make_layout(colbert_on_disk=True)
    settings = _settings(
        tmp_path,
        stand_in,
        shard_number=6,
        replication_factor=2,
        write_consistency_factor=2,
        on_disk_payload=True,
        dense_on_disk=True,
    )
    open_store(settings, layout).close()
    body = _create_request()
    assert body["shard_number"] == 6
    assert body["replication_factor"] == 2
    assert body["write_consistency_factor"] == 2
    assert body["on_disk_payload"] is True
    assert body["vectors"]["dense"]["on_disk"] is True
    assert body["vectors"]["colbert"]["on_disk"] is True  # the layout's own on-disk option
    assert body["metadata"]["msrag_layout"] == layout.to_dict()
    indexed = [b for _, p, b, _ in _QdrantStandIn.requests if "/index" in p and b]
    assert [(b["field_name"], b["field_schema"]) for b in indexed] == [
        ("source", "keyword"),
        ("doc_id", "keyword"),
        ("file_hash", "keyword"),
        ("state", "keyword"),  # hides chunks of documents still being ingested
        ("groups", "keyword"),  # the caller's access, filtered on at every stage
        # one row per document in the library (retrieval/ingest/library.py)
        ("chunk_index", "integer"),
    ]


def test_unset_options_leave_the_server_defaults(stand_in: str, tmp_path: Path) -> None:
    open_store(_settings(tmp_path, stand_in), make_layout()).close()
    body = _create_request()
    for key in ("shard_number", "replication_factor", "write_consistency_factor"):
        assert body.get(key) is None
    assert body.get("on_disk_payload") is None
    assert body["vectors"]["dense"].get("on_disk") is None


def test_options_are_validated_at_the_edge(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="replication_factor"):
        _settings(tmp_path, "http://localhost:6333", replication_factor=0)
