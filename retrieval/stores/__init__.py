"""The two Qdrant stores behind one protocol, and `open_store` to pick the configured one.

    store = open_store(settings, layout)
    store.describe()
    # -> 'embedded store at .msrag/msrag'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retrieval.schema import Layout
from retrieval.settings import RetrievalSettings
from retrieval.stores.base import Store
from retrieval.stores.edge import EdgeStore
from retrieval.stores.server import ServerStore, connect, server_errors

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

__all__ = ["EdgeStore", "ServerStore", "Store", "open_store", "stored_layout"]


def open_store(
    settings: RetrievalSettings, layout: Layout, client: QdrantClient | None = None
) -> Store:
    """The Qdrant server at `QDRANT_URL` (or the `client` given), else the embedded store.

    Creates the collection with `layout` on first use; raises `LayoutMismatchError` when an
    existing one was built differently, `StoreLockedError` / `StoreUnavailableError` when it
    cannot be opened.
    """
    if client is not None or settings.qdrant_url:
        return ServerStore.from_settings(settings, layout, client=client)
    return EdgeStore.from_settings(settings, layout)


def stored_layout(settings: RetrievalSettings, client: QdrantClient | None = None) -> Layout | None:
    """The layout the configured collection was built with, without opening it for queries
    (None if it does not exist yet)."""
    if client is not None:
        return ServerStore.read_layout(client, settings.collection)
    if settings.qdrant_url:
        own = connect(settings)
        try:
            with server_errors(settings.qdrant_url):  # unreachable: a sentence, exit code 3
                return ServerStore.read_layout(own, settings.collection)
        finally:
            own.close()
    return EdgeStore.read_layout(settings.store_path)
