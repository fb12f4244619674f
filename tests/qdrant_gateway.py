"""A stand-in Qdrant server for tests: Qdrant's REST protocol in front of qdrant-client's local
engine, on a real socket.

No Qdrant server can run on this machine (`../shared/notes/qdrant-engines.md`), and qdrant-client's
local mode lives inside the test's own process, so it can neither be unreachable nor go away and
come back. This gateway puts the two together: a separate process that answers the subset of
Qdrant's REST API `qdrant_client.QdrantClient(url=...)` uses for everything `ServerStore` calls,
parsing each body with qdrant-client's own models (`qdrant_client.http.models`), running the call
on `QdrantClient(path=DIR)` (persisted, so a restarted gateway serves the same points) and
answering `{"result": ..., "status": "ok", "time": ...}` as Qdrant does. A test can `kill -9` it
(the server goes away) and start it again on the same port (the server comes back).

It is not Qdrant: its engine is local mode (exact numpy search, no shards, no replicas, payload
indexes only recorded so `get_collection` lists them). `tests/retrieval/stores/test_gateway.py`
checks it returns what local mode returns in-process. With `QDRANT_URL` set, the `live_qdrant`
tests use a real server instead.

    python -m tests.qdrant_gateway --port 6333 --path /tmp/qdrant-data [--api-key KEY]

    with Gateway(tmp_path / "qdrant") as gateway:  # from a test: a child process
        client = QdrantClient(url=gateway.url, check_compatibility=False)
        gateway.kill()   # SIGKILL: every connection drops, nothing is flushed
        gateway.start()  # the same port and data
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, TypeAdapter, ValidationError
from qdrant_client import QdrantClient
from qdrant_client.http import models

REPO = Path(__file__).resolve().parent.parent
_INDEXES = "gateway-payload-indexes.json"  # what local mode does not keep: see `Engine`
_ANY: TypeAdapter[Any] = TypeAdapter(Any)


class GatewayError(Exception):
    """A request Qdrant would refuse: answered with `status` and Qdrant's error shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Engine:
    """qdrant-client's local mode at `path`, one call at a time (it is not thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.client = QdrantClient(path=str(path))
        self._lock = threading.RLock()  # the index bookkeeping holds it around calls
        # Local mode keeps no payload indexes; a server lists the ones created in
        # `payload_schema`, which `ServerStore` reads on open. Kept beside the data so a
        # restarted gateway lists them too.
        self._indexes_file = path / _INDEXES
        self._indexes: dict[str, dict[str, str]] = (
            json.loads(self._indexes_file.read_text()) if self._indexes_file.exists() else {}
        )

    def call(self, fn: Callable[[QdrantClient], Any]) -> Any:
        with self._lock:
            return fn(self.client)

    def _save_indexes(self) -> None:
        self._indexes_file.write_text(json.dumps(self._indexes))

    # --- collections --------------------------------------------------------------------------
    def exists(self, name: str) -> models.CollectionExistence:
        return models.CollectionExistence(exists=self.call(lambda c: c.collection_exists(name)))

    def get(self, name: str) -> models.CollectionInfo:
        info: models.CollectionInfo = self.call(lambda c: c.get_collection(name))
        schema = {
            field: models.PayloadIndexInfo(
                data_type=models.PayloadSchemaType(kind), points=info.points_count or 0
            )
            for field, kind in self._indexes.get(name, {}).items()
        }
        return info.model_copy(update={"payload_schema": schema})

    def create(self, name: str, body: models.CreateCollection) -> bool:
        def create(c: QdrantClient) -> bool:
            if c.collection_exists(name):  # Qdrant's answer to a second create
                raise GatewayError(409, f"Wrong input: Collection `{name}` already exists!")
            return c.create_collection(
                name,
                vectors_config=body.vectors or {},
                sparse_vectors_config=body.sparse_vectors,
                metadata=body.metadata,
            )

        with self._lock:
            created = bool(self.call(create))
            self._indexes.pop(name, None)
            self._save_indexes()
        return created

    def drop(self, name: str) -> bool:
        with self._lock:
            self._indexes.pop(name, None)
            self._save_indexes()
            return bool(self.call(lambda c: c.delete_collection(name)))

    def create_index(self, name: str, body: models.CreateFieldIndex) -> models.UpdateResult:
        self._require(name)
        schema = body.field_schema
        kind = schema if isinstance(schema, str) else getattr(schema, "type", "keyword")
        with self._lock:
            self._indexes.setdefault(name, {})[body.field_name] = str(getattr(kind, "value", kind))
            self._save_indexes()
        return _completed()

    def _require(self, name: str) -> None:
        if not self.call(lambda c: c.collection_exists(name)):
            raise GatewayError(404, f"Not found: Collection `{name}` doesn't exist!")

    # --- points ------------------------------------------------------------------------------
    def upsert(self, name: str, body: models.PointInsertOperations) -> models.UpdateResult:
        self._require(name)
        points = body.points if isinstance(body, models.PointsList) else body.batch
        return self.call(lambda c: c.upsert(name, points=points, wait=True))  # type: ignore[no-any-return]

    def delete(self, name: str, body: models.PointsSelector) -> models.UpdateResult:
        self._require(name)
        return self.call(lambda c: c.delete(name, points_selector=body, wait=True))  # type: ignore[no-any-return]

    def set_payload(self, name: str, body: models.SetPayload) -> models.UpdateResult:
        self._require(name)
        points: Any = body.points if body.points is not None else body.filter
        return self.call(  # type: ignore[no-any-return]
            lambda c: c.set_payload(name, payload=body.payload, points=points, key=body.key)
        )

    def query(self, name: str, body: models.QueryRequest) -> models.QueryResponse:
        self._require(name)
        return self.call(  # type: ignore[no-any-return]
            lambda c: c.query_points(
                name,
                query=body.query,
                using=body.using,
                prefetch=body.prefetch,
                query_filter=body.filter,
                search_params=body.params,
                limit=body.limit if body.limit is not None else 10,
                offset=body.offset,
                with_payload=body.with_payload if body.with_payload is not None else False,
                with_vectors=body.with_vector if body.with_vector is not None else False,
                score_threshold=body.score_threshold,
            )
        )

    def count(self, name: str, body: models.CountRequest) -> models.CountResult:
        self._require(name)
        return self.call(lambda c: c.count(name, count_filter=body.filter, exact=True))  # type: ignore[no-any-return]

    def scroll(self, name: str, body: models.ScrollRequest) -> models.ScrollResult:
        self._require(name)
        records, offset = self.call(
            lambda c: c.scroll(
                name,
                scroll_filter=body.filter,
                limit=body.limit if body.limit is not None else 10,
                offset=body.offset,
                order_by=body.order_by,
                with_payload=body.with_payload if body.with_payload is not None else True,
                with_vectors=body.with_vector if body.with_vector is not None else False,
            )
        )
        return models.ScrollResult(points=records, next_page_offset=offset)

    def facet(self, name: str, body: models.FacetRequest) -> models.FacetResponse:
        self._require(name)
        return self.call(  # type: ignore[no-any-return]
            lambda c: c.facet(
                name,
                body.key,
                facet_filter=body.filter,
                limit=body.limit if body.limit is not None else 10,
                exact=bool(body.exact),
            )
        )

    def retrieve(self, name: str, body: models.PointRequest) -> list[models.Record]:
        self._require(name)
        return self.call(  # type: ignore[no-any-return]
            lambda c: c.retrieve(
                name,
                body.ids,
                with_payload=body.with_payload if body.with_payload is not None else True,
                with_vectors=body.with_vector if body.with_vector is not None else False,
            )
        )


def _completed() -> models.UpdateResult:
    return models.UpdateResult(operation_id=0, status=models.UpdateStatus.COMPLETED)


# (method, path pattern) → (body type or None, the engine call)
_COLLECTION = r"/collections/(?P<name>[^/]+)"
Route = tuple[str, re.Pattern[str], Any, Callable[..., Any]]
ROUTES: list[Route] = [
    ("GET", re.compile(_COLLECTION + "/exists"), None, Engine.exists),
    ("GET", re.compile(_COLLECTION), None, Engine.get),
    ("PUT", re.compile(_COLLECTION), models.CreateCollection, Engine.create),
    ("DELETE", re.compile(_COLLECTION), None, Engine.drop),
    ("PUT", re.compile(_COLLECTION + "/index"), models.CreateFieldIndex, Engine.create_index),
    ("PUT", re.compile(_COLLECTION + "/points"), models.PointInsertOperations, Engine.upsert),
    ("POST", re.compile(_COLLECTION + "/points"), models.PointRequest, Engine.retrieve),
    ("POST", re.compile(_COLLECTION + "/points/delete"), models.PointsSelector, Engine.delete),
    ("POST", re.compile(_COLLECTION + "/points/payload"), models.SetPayload, Engine.set_payload),
    ("POST", re.compile(_COLLECTION + "/points/query"), models.QueryRequest, Engine.query),
    ("POST", re.compile(_COLLECTION + "/points/count"), models.CountRequest, Engine.count),
    ("POST", re.compile(_COLLECTION + "/points/scroll"), models.ScrollRequest, Engine.scroll),
    ("POST", re.compile(_COLLECTION + "/facet"), models.FacetRequest, Engine.facet),
]


def _jsonable(value: Any) -> Any:
    """What Qdrant would send: models as JSON, numpy values (local `path=` mode) as numbers."""

    def fallback(obj: Any) -> Any:
        if hasattr(obj, "tolist"):  # numpy arrays and scalars
            return obj.tolist()
        raise TypeError(f"cannot send {type(obj).__name__}")

    return _ANY.dump_python(value, mode="json", fallback=fallback)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Qdrant (so a kill drops pooled connections)
    engine: Engine
    api_key: str | None = None

    def do_GET(self) -> None:  # http.server's method names
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, *args: object) -> None:
        pass  # quiet: tests read stderr only when something failed

    def _handle(self) -> None:
        started = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path.rstrip("/") or "/"
        if path == "/healthz":  # Qdrant's liveness probe answers in plain text
            self._send(200, b"healthz check passed", "text/plain")
            return
        if self.api_key is not None and self.headers.get("api-key") != self.api_key:
            self._error(401, "Must provide an API key or an Authorization bearer token", started)
            return
        if path == "/":
            # the client's version check on connect: the protocol is this client's own
            title = {"title": "qdrant - vector search engine (msrag test gateway)"}
            version = {"version": importlib.metadata.version("qdrant-client")}
            self._send(200, json.dumps({**title, **version}).encode())
            return
        for method, pattern, body_type, call in ROUTES:
            match = pattern.fullmatch(path)
            if method != self.command or match is None:
                continue
            try:
                args: list[Any] = [match["name"]]
                if body_type is not None:
                    args.append(TypeAdapter(body_type).validate_json(raw or b"{}"))
                result = call(self.engine, *args)
            except ValidationError as exc:
                self._error(400, f"Format error in JSON body: {exc}", started)
            except GatewayError as exc:
                self._error(exc.status, str(exc), started)
            except (ValueError, KeyError) as exc:  # local mode's "not found", bad input
                status = 404 if "not found" in str(exc).lower() else 400
                self._error(status, f"Wrong input: {exc}", started)
            else:
                self._reply(result, started)
            return
        self._error(404, f"Not found: {self.command} {path} (not served by the gateway)", started)

    def _reply(self, result: Any, started: float) -> None:
        if isinstance(result, BaseModel | list | bool):
            result = _jsonable(result)
        body = {"result": result, "status": "ok", "time": time.perf_counter() - started}
        self._send(200, json.dumps(body).encode())

    def _error(self, status: int, message: str, started: float) -> None:
        body = {"status": {"error": message}, "time": time.perf_counter() - started}
        self._send(status, json.dumps(body).encode())

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(port: int, path: Path, api_key: str | None = None, host: str = "127.0.0.1") -> None:
    """Serve until SIGTERM/SIGINT (or SIGKILL, which is the point)."""
    path.mkdir(parents=True, exist_ok=True)
    # Local mode warns that it ignores search params, quantization and on-disk options: the
    # server's business, not the protocol's.
    warnings.simplefilter("ignore", UserWarning)
    engine = Engine(path)
    handler = type("Handler", (_Handler,), {"engine": engine, "api_key": api_key})
    ThreadingHTTPServer.allow_reuse_address = True  # restart on the same port at once
    server = ThreadingHTTPServer((host, port), handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever()
    finally:
        server.server_close()
        engine.client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Gateway:
    """The gateway as a child process on a fixed port, to stop, kill and start again."""

    def __init__(self, path: Path, port: int | None = None, api_key: str | None = None) -> None:
        self.path = path
        self.port = port or free_port()
        self.api_key = api_key
        self.log = path.parent / f"{path.name}-gateway.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        """Start it and wait until it answers (it loads every stored point first)."""
        command = [sys.executable, "-m", "tests.qdrant_gateway", "--port", str(self.port)]
        command += ["--path", str(self.path)]
        if self.api_key:
            command += ["--api-key", self.api_key]
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Qdrant gateway did not start:\n{self.log.read_text()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: the server vanishes mid-whatever, as a crashed or unplugged one does."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> Gateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", type=Path, required=True, help="where local mode keeps data")
    parser.add_argument("--api-key", default=None, help="require this `api-key` header")
    args = parser.parse_args(argv)
    serve(args.port, args.path, args.api_key)


if __name__ == "__main__":
    main()
