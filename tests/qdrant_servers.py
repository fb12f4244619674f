"""The Qdrant behind `ServerStore` in tests: qdrant-client's local mode always, a real server
when one is offered.

No Qdrant server can run on this machine, so local mode (`:memory:`, the client's own exact
numpy back end, same API) stands in for it. Set `QDRANT_URL` (and `QDRANT_API_KEY`) when running
pytest and every test that takes `server_backend` runs a second time against that server, each
in a collection of its own that is deleted afterwards: the congruence suite and the
export/import round trip. Unset, those runs are reported as skipped with the reason, never as
passed. (Read at import: the tests' own environment is scrubbed of these variables.)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from qdrant_client import QdrantClient

LIVE_URL = os.environ.get("QDRANT_URL") or None
LIVE_KEY = os.environ.get("QDRANT_API_KEY") or None
LIVE_SKIP = (
    "QDRANT_URL is not set: the run against a real Qdrant server is opt-in "
    "(QDRANT_URL=http://host:6333 pytest -m live_qdrant; docs/guide/scaling-out.md)"
)


@dataclass
class ServerBackend:
    """Makes clients and collection names for one kind of server; drops what it created."""

    kind: str  # "local" (qdrant-client :memory:) or "live" (the server at QDRANT_URL)
    _made: list[tuple[QdrantClient, str]] = field(default_factory=list)

    def client(self) -> QdrantClient:
        if self.kind == "local":
            return QdrantClient(":memory:")
        return QdrantClient(url=LIVE_URL, api_key=LIVE_KEY, check_compatibility=False)

    def collection(self, client: QdrantClient) -> str:
        """A fresh collection name, deleted from `client` at teardown (live server only)."""
        name = f"msrag-test-{uuid.uuid4().hex[:10]}"
        self._made.append((client, name))
        return name

    def cleanup(self) -> None:
        for client, name in self._made:
            if self.kind == "live":
                client.delete_collection(name)
            client.close()
        self._made.clear()


@pytest.fixture(
    scope="class", params=["local", pytest.param("live", marks=pytest.mark.live_qdrant)]
)
def server_backend(request: pytest.FixtureRequest) -> Iterator[ServerBackend]:
    if request.param == "live" and LIVE_URL is None:
        pytest.skip(LIVE_SKIP)
    backend = ServerBackend(request.param)
    yield backend
    backend.cleanup()
