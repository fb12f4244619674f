"""What the page runs on: one store, one set of encoders, one retriever and one assistant.

The page keeps ONE `Engine` per server process (`st.cache_resource`), shared by every browser
tab: the embedded store can be opened by one process only, and the ONNX models are too big to
load per tab. Streamlit runs each tab's script on its own thread, so every store call goes
through `SerializedStore`, which lets one call at a time reach the engine (encoding, the slow
part, runs outside the lock, so tabs still overlap their work).

    engine = Engine.open(RegressSettings())
    engine.stats().documents
    # -> 8
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from assistant.audited import audited
from assistant.chat import Assistant
from regress.settings import RegressSettings
from retrieval.alignment import align
from retrieval.encoders import Encoders, TokenMatch
from retrieval.ingest.library import DocumentInfo, document_count, documents
from retrieval.retriever import MultiStageRetriever
from retrieval.stores import open_store
from retrieval.stores.base import Store
from retrieval.types import Filter
from teams.admin import Admin
from teams.audit import AuditLog
from teams.identity import Identities, User


class SerializedStore:
    """A `Store` whose methods run one at a time, whichever thread calls them.

    Iterators (`scroll_payloads`) are drained under the lock, so no caller holds a half-read
    cursor while another thread writes.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.RLock()

    @property
    def layout(self) -> Any:
        return self._store.layout

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                result = attribute(*args, **kwargs)
                if isinstance(result, Iterator):
                    result = iter(list(result))
                return result

        return call


@dataclass(frozen=True)
class StoreStats:
    """What the sidebar shows about the store."""

    documents: int
    chunks: int
    where: str  # 'embedded store at …' or 'Qdrant server at …'
    models: dict[str, str]


class Engine:
    """The store, encoders, retriever and assistant the page uses, opened once from settings."""

    def __init__(self, settings: RegressSettings, encoders: Encoders, store: Store) -> None:
        self.settings = settings
        self.encoders = encoders
        self.store = store
        self.retriever = MultiStageRetriever.from_settings(settings, encoders=encoders, store=store)
        self.assistant = Assistant(settings, self.retriever)
        self.audit = AuditLog.from_settings(settings)
        # every change to the library: rights checked and audited there, not on the pages
        self.admin = Admin(store, encoders, settings, self.audit)
        self.identities = Identities(settings)
        self._stats_lock = threading.Lock()
        self._stats: dict[tuple[str, ...] | None, tuple[int, StoreStats]] = {}
        # A toggle redraws the page on every click: keep recent alignments instead of recomputing.
        self._alignments = lru_cache(maxsize=256)(self._align)

    def assistant_for(self, user: User) -> Assistant:
        """The assistant as `user` may use it: searches restricted to their groups (every
        prefetch and the final stage), each turn in the audit log."""
        assistant = audited(self.assistant, self.audit, user)
        if user.access is not None:
            assistant.retriever = self.retriever.restricted_to(user.access)
        return assistant

    def library(self, user: User) -> list[DocumentInfo]:
        """The documents `user` may see (all of them for admins), by source."""
        return documents(self.store, user.access)

    def alignment(self, query: str, passage_text: str) -> list[TokenMatch]:
        """MaxSim alignment of `query` over `passage_text` (see `retrieval.alignment.align`)."""
        return list(self._alignments(query, passage_text))

    def _align(self, query: str, passage_text: str) -> tuple[TokenMatch, ...]:
        return tuple(align(self.encoders, query, passage_text))

    @classmethod
    def open(cls, settings: RegressSettings, encoders: Encoders | None = None) -> Engine:
        """Load the encoders (unless given) and open the configured store.

        Raises `ModelUnavailableError`, `StoreLockedError`, `StoreUnavailableError` or
        `LayoutMismatchError` (all `RetrievalError`s with a message a user can act on).
        """
        encoders = encoders or Encoders(settings)
        store = open_store(settings, encoders.layout(settings))
        return cls(settings, encoders, SerializedStore(store))  # type: ignore[arg-type]

    @property
    def llm_label(self) -> str:
        """The language model in use, or how answers are made without one."""
        llm = self.assistant.llm
        if llm is None:
            return "no LLM — extractive answers"
        base = getattr(llm, "base_url", None) or ""
        return f"{llm.model} at {base}" if base else llm.model

    def stats(self, access: tuple[str, ...] | None = None) -> StoreStats:
        """Documents and chunks in the store that `access` may see (None: all; documents
        counted from the `source` index, as `msrag status` does); recounted only when the
        number of chunks has changed."""
        flt = None if access is None else Filter(groups=access)
        chunks = self.store.count(flt)
        with self._stats_lock:
            cached = self._stats.get(access)
            if cached is not None and cached[0] == chunks:
                return cached[1]
            stats = StoreStats(
                documents=document_count(self.store, access),
                chunks=chunks,
                where=self.store.describe(),
                models=dict(self.encoders.model_ids),
            )
            self._stats[access] = (chunks, stats)
            return stats

    def close(self) -> None:
        self.store.close()
