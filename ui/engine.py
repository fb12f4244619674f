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
from assistant.errors import AssistantError
from regress.settings import RegressSettings
from retrieval.access import group_names
from retrieval.alignment import align
from retrieval.encoders import Encoders, TokenMatch
from retrieval.ingest.library import DocumentInfo, document_count, documents
from retrieval.ingest.loaders import doc_id_for
from retrieval.retriever import MultiStageRetriever
from retrieval.stores import open_store
from retrieval.stores.base import Store
from retrieval.types import Filter
from teams.audit import Action, AuditLog
from teams.identity import Identities, User
from teams.permissions import change_groups, document_groups


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


class NotAdminError(AssistantError):
    """A library change asked for by someone who is not an admin."""


def _require_admin(user: User) -> None:
    if not user.admin:
        raise NotAdminError(
            f"{user.name} is not an admin: only members of the `admins` group (MSRAG_GROUPS_FILE) "
            "may change the library."
        )


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

    def change_groups(
        self, user: User, source: str, groups: str, *, grant: bool
    ) -> tuple[str, ...]:
        """Grant or revoke groups on one document (admins only; audited)."""
        _require_admin(user)
        now = change_groups(self.store, source, group_names(groups), grant=grant)
        action: Action = "grant" if grant else "revoke"
        self.audit.record(user.name, action, source, doc_ids=[doc_id_for(source)], groups=now)
        return now

    def delete_document(self, user: User, source: str) -> None:
        """Remove one document from the store (admins only; audited)."""
        _require_admin(user)
        document_groups(self.store, source)  # raises for an unknown source
        self.store.delete(Filter(must={"source": source}))
        self.audit.record(user.name, "delete", source, doc_ids=[doc_id_for(source)])

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
