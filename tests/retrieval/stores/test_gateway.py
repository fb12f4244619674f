"""The Qdrant gateway (`tests/qdrant_gateway.py`) is faithful: `ServerStore` through it, over
Qdrant's REST protocol, returns what qdrant-client's local mode returns in-process.

The gateway is what the outage tests kill and restart (no Qdrant server runs here), so it must
not change results: the shared store contract runs through it, the congruence check compares it
with `QdrantClient(":memory:")` in every mode, and a `kill -9` loses nothing it acknowledged.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from retrieval.errors import StoreUnavailableError
from retrieval.modes import MODES
from retrieval.schema import Layout
from retrieval.stores import ServerStore
from retrieval.types import Filter, QueryPlan
from tests.qdrant_gateway import Gateway
from tests.retrieval.stores.conftest import FILTERS, Corpus, StoreContract, make_layout
from tests.retrieval.stores.helpers import assert_congruent

KEY = "gateway-test-key"
pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with Gateway(tmp_path_factory.mktemp("gateway") / "qdrant", api_key=KEY) as gateway:
        yield gateway


def _client(gateway: Gateway) -> QdrantClient:
    return QdrantClient(url=gateway.url, api_key=KEY, check_compatibility=False)


def _fresh(gateway: Gateway, layout: Layout) -> ServerStore:
    return ServerStore(_client(gateway), f"c-{uuid.uuid4().hex[:8]}", layout, owns_client=True)


@pytest.fixture(scope="module")
def store(gateway: Gateway, layout: Layout, corpus: Corpus) -> Iterator[ServerStore]:
    with _fresh(gateway, layout) as store:
        store.upsert(corpus.chunks, corpus.vectors)
        yield store


@pytest.fixture
def empty_store(gateway: Gateway, layout: Layout) -> Iterator[ServerStore]:
    with _fresh(gateway, layout) as store:
        yield store
        store.drop()


@pytest.fixture
def no_muvera_store(gateway: Gateway) -> Iterator[ServerStore]:
    with _fresh(gateway, make_layout()) as store:
        yield store
        store.drop()


class TestGatewayContract(StoreContract):
    """The behaviour every store shares, through the gateway's REST protocol."""


@pytest.fixture(scope="module")
def in_process(layout: Layout, corpus: Corpus) -> Iterator[ServerStore]:
    with ServerStore(QdrantClient(":memory:"), "msrag", layout) as store:
        store.upsert(corpus.chunks, corpus.vectors)
        yield store


@pytest.mark.parametrize("filter_name", list(FILTERS))
@pytest.mark.parametrize("mode", MODES)
def test_congruent_with_local_mode_in_process(
    in_process: ServerStore, store: ServerStore, corpus: Corpus, mode: str, filter_name: str
) -> None:
    for query in corpus.queries[:4]:
        plan = QueryPlan(mode, query, top_k=10, prefetch_limit=30, filter=FILTERS[filter_name])
        assert_congruent(plan, in_process, store)


def test_a_wrong_api_key_is_refused_as_qdrant_does(gateway: Gateway, layout: Layout) -> None:
    client = QdrantClient(url=gateway.url, api_key="wrong", check_compatibility=False)
    with pytest.raises(StoreUnavailableError, match="refused the request \\(HTTP 401\\)"):
        ServerStore(client, "msrag", layout, url=gateway.url)


def test_killed_and_restarted_it_serves_what_it_acknowledged(
    tmp_path: Path, layout: Layout, corpus: Corpus
) -> None:
    plan = QueryPlan("hybrid+colbert", corpus.queries[0], top_k=10)
    with Gateway(tmp_path / "qdrant") as gateway:
        client = QdrantClient(url=gateway.url, check_compatibility=False)
        store = ServerStore(client, "msrag", layout)
        store.upsert(corpus.chunks[:120], corpus.vectors[:120])
        store.delete(Filter(must={"source": "docs/beta.pdf"}))
        before = store.query(plan)
        gateway.kill()  # SIGKILL: no shutdown, no flush
        gateway.start()
        assert store.count() == 90
        after = store.query(plan)
        # the same points; scores to float32 precision (`path=` reloads vectors as float64)
        assert [p.id for p in after] == [p.id for p in before]
        assert [p.score for p in after] == pytest.approx([p.score for p in before], abs=1e-5)
        client.close()
