"""`MultiStageRetriever`: the LlamaIndex retriever that sends one Qdrant universal query."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from retrieval.access import group_names
from retrieval.alignment import maxsim
from retrieval.encoders import Encoders
from retrieval.errors import EmptyQueryError, InvalidArgumentError, QueryTooLongError
from retrieval.modes import DEFAULT_MODE, mode_spec
from retrieval.plan import stored_form, unit_rows
from retrieval.settings import RetrievalSettings
from retrieval.stores.base import Store
from retrieval.types import (
    DEFAULT_HNSW_EF,
    DEFAULT_MAX_QUERY_CHARS,
    DEFAULT_PREFETCH_LIMIT,
    DEFAULT_RRF_K,
    DEFAULT_TOP_K,
    Filter,
    Passage,
    QueryPlan,
)

# Metadata the LLM does not need to read in a LlamaIndex prompt (still there for citations).
_HIDDEN_FROM_LLM = [
    "doc_id",
    "chunk_index",
    "char_start",
    "char_end",
    "score",
    "rank",
    "mode",
    "groups",
]


@dataclass
class Retrieval:
    """The outcome of one search: ranked passages and where the time went."""

    query: str
    mode: str
    passages: list[Passage]
    timings: dict[str, float] = field(default_factory=dict)  # encode_ms, search_ms, total_ms
    # Query token vectors MaxSim summed over: puts a rerank score on a per-token scale.
    query_tokens: int | None = None




def check_query(query: str, max_chars: int = DEFAULT_MAX_QUERY_CHARS) -> str:
    """The query stripped; an empty one or one over `max_chars` characters is refused.

    An empty query still has vectors (special tokens only) and would return arbitrary passages;
    a huge one is truncated by every encoder, so most of it would be silently ignored.
    """
    text = (query or "").strip()
    if not text:
        raise EmptyQueryError("The query is empty: give the words or question to search for.")
    if len(text) > max_chars:
        raise QueryTooLongError(
            f"The question is {len(text):,} characters long, over the limit of {max_chars:,}: "
            f"shorten it, or raise MSRAG_MAX_QUESTION_CHARS."
        )
    return text


@dataclass
class _SearchCall:
    """The options of one `search()` call, handed through LlamaIndex's `retrieve()` to
    `_retrieve`, which leaves the full `Retrieval` here for `search()` to return."""

    mode: str | None = None
    top_k: int | None = None
    filter: Filter | None = None
    with_vectors: bool = False
    relevance: bool = False  # read MaxSim back from stored vectors (fused modes)
    result: Retrieval | None = None


# Per thread and per asyncio task (asyncio.to_thread copies it), so concurrent searches from the
# UI's sessions never see each other's options.
_CALL: ContextVar[_SearchCall | None] = ContextVar("msrag_search_call", default=None)


def _check_positive(name: str, value: int) -> int:
    if value <= 0:
        raise InvalidArgumentError(f"{name} must be > 0; got {value}")
    return value


class MultiStageRetriever(BaseRetriever):
    """Prefetch with dense / BM25 / both (RRF), rerank with ColBERT MaxSim — one `query_points`.

    A LlamaIndex `BaseRetriever`: use it anywhere LlamaIndex takes a retriever.

        retriever = MultiStageRetriever.from_settings(RetrievalSettings())
        nodes = retriever.retrieve("How does late interaction score a passage?")
        nodes[0].metadata["source"], nodes[0].score
        # -> ('docs/colbert.md', 17.3)

    `groups` restricts every search to documents for everyone and for those groups (a filter on
    every prefetch and the final stage; see `retrieval/access.py`); None (the default) means
    unrestricted, `[]` means public documents only:

        hr_view = MultiStageRetriever.from_settings(RetrievalSettings(), groups=["hr"])
        legal_view = retriever.restricted_to(["legal"])  # same store and encoders
    """

    def __init__(
        self,
        store: Store,
        encoders: Encoders,
        *,
        mode: str = DEFAULT_MODE,
        top_k: int = DEFAULT_TOP_K,
        prefetch_limit: int = DEFAULT_PREFETCH_LIMIT,
        rrf_k: int = DEFAULT_RRF_K,
        dense_exact: bool = False,
        hnsw_ef: int = DEFAULT_HNSW_EF,
        filter: Filter | None = None,
        max_query_chars: int = DEFAULT_MAX_QUERY_CHARS,
        groups: Sequence[str] | None = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        self.store = store
        self.encoders = encoders
        self.mode = mode_spec(mode).name
        self.top_k = _check_positive("top_k", top_k)
        self.prefetch_limit = _check_positive("prefetch_limit", prefetch_limit)
        self.rrf_k = _check_positive("rrf_k", rrf_k)
        self.dense_exact = dense_exact
        self.hnsw_ef = _check_positive("hnsw_ef", hnsw_ef)
        self.filter = filter
        self.max_query_chars = _check_positive("max_query_chars", max_query_chars)
        self.groups: tuple[str, ...] | None = None if groups is None else group_names(groups)
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    def restricted_to(self, groups: Sequence[str]) -> MultiStageRetriever:
        """A retriever on the same store and encoders that sees only what `groups` may see.

        Narrowing only: from an already restricted retriever, the groups kept are those in both.
        """
        wanted = group_names(groups)
        if self.groups is not None:
            wanted = tuple(g for g in wanted if g in self.groups)
        return MultiStageRetriever(
            self.store,
            self.encoders,
            mode=self.mode,
            top_k=self.top_k,
            prefetch_limit=self.prefetch_limit,
            rrf_k=self.rrf_k,
            dense_exact=self.dense_exact,
            hnsw_ef=self.hnsw_ef,
            filter=self.filter,
            max_query_chars=self.max_query_chars,
            groups=wanted,
            callback_manager=self.callback_manager,
        )

    @classmethod
    def from_settings(
        cls,
        settings: RetrievalSettings,
        *,
        encoders: Encoders | None = None,
        store: Store | None = None,
        **kwargs: object,
    ) -> MultiStageRetriever:
        """Open the configured encoders and store (embedded, or the server at QDRANT_URL)."""
        from retrieval.stores import open_store  # keeps importing this module light

        # given encoders still follow *these* settings' index-time options (pool factor, MUVERA)
        encoders = encoders.configured(settings) if encoders else Encoders(settings)
        store = store or open_store(settings, encoders.layout(settings))
        options: dict[str, object] = {
            "mode": settings.mode,
            "top_k": settings.top_k,
            "prefetch_limit": settings.prefetch_limit,
            "rrf_k": settings.rrf_k,
            "dense_exact": settings.dense_exact,
            "hnsw_ef": settings.hnsw_ef,
            "max_query_chars": settings.max_query_chars,
        }
        options.update(kwargs)
        return cls(store, encoders, **options)  # type: ignore[arg-type]

    def search(
        self,
        query: str,
        *,
        mode: str | None = None,
        top_k: int | None = None,
        filter: Filter | None = None,
        with_vectors: bool = False,
        relevance: bool = False,
    ) -> Retrieval:
        """Encode the query, run one universal query, return passages with timings.

        `relevance=True` in a mode that fuses a MaxSim rerank (e.g. `hybrid+colbert+dbsf`)
        also reads each passage's MaxSim per query token from its stored token vectors into
        `passage.maxsim_per_token`: the fused score has no absolute scale, this does.

        The search runs inside LlamaIndex's own `retrieve()`, so its instrumentation (dispatcher
        spans, `RetrievalStartEvent`/`RetrievalEndEvent` with the nodes and scores, callback
        handlers such as Langfuse or Arize Phoenix) sees every search — the assistant's chat
        turns included — exactly as it sees a plain `retriever.retrieve(...)`.
        """
        call = _SearchCall(mode, top_k, filter, with_vectors, relevance)
        token = _CALL.set(call)
        try:
            self.retrieve(QueryBundle(query))
        finally:
            _CALL.reset(token)
        assert call.result is not None  # set by _retrieve below
        return call.result

    def _search(self, query: str, call: _SearchCall) -> Retrieval:
        # here, so a plain LlamaIndex `retrieve("")` is refused too
        query = check_query(query, self.max_query_chars)
        spec = mode_spec(call.mode or self.mode)
        k = _check_positive("top_k", call.top_k if call.top_k is not None else self.top_k)
        started = time.perf_counter()
        vectors = self.encoders.encode_query(
            query,
            dense=spec.needs("dense"),
            sparse=spec.needs("sparse"),
            colbert=spec.needs("colbert"),
            muvera=spec.needs("muvera"),
        )
        encoded = time.perf_counter()
        plan = QueryPlan(
            mode=spec.name,
            query=vectors,
            top_k=k,
            prefetch_limit=max(self.prefetch_limit, k),
            rrf_k=self.rrf_k,
            dense_exact=self.dense_exact,
            hnsw_ef=self.hnsw_ef,
            filter=_with_access(
                call.filter if call.filter is not None else self.filter, self.groups
            ),
            with_vectors=call.with_vectors or (call.relevance and spec.fuses_maxsim),
        )
        passages = self.store.query(plan)
        if call.relevance and spec.fuses_maxsim and vectors.colbert is not None:
            tokens = stored_form(vectors.colbert, self.store.layout)
            for p in passages:
                if p.colbert is not None and len(p.colbert):
                    score = maxsim(tokens, unit_rows(p.colbert))  # already stored values
                    p.maxsim_per_token = score / len(tokens)
                if not call.with_vectors:
                    p.colbert = None
        done = time.perf_counter()
        return Retrieval(
            query=query,
            mode=spec.name,
            passages=passages,
            timings={
                "encode_ms": (encoded - started) * 1000,
                "search_ms": (done - encoded) * 1000,
                "total_ms": (done - started) * 1000,
            },
            query_tokens=len(vectors.colbert) if vectors.colbert is not None else None,
        )

    def relevance(self, query: str, texts: Sequence[str]) -> list[float]:
        """Late-interaction relevance of each text to `query` (see `retrieval.alignment`), with
        the encoders already loaded — e.g. to pick the sentences of a passage that answer."""
        from retrieval.alignment import relevance  # fastembed internals: loaded on first use

        return relevance(self.encoders, query, texts)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        call = _CALL.get()
        if call is None or call.result is not None:  # a plain LlamaIndex `retrieve()`
            call = _SearchCall()
        call.result = self._search(query_bundle.query_str, call)
        return [_to_node(p) for p in call.result.passages]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        # Encoding is CPU-bound ONNX and the embedded engine is synchronous: run off the loop.
        return await asyncio.to_thread(self._retrieve, query_bundle)

    def close(self) -> None:
        self.store.close()


def _with_access(filter: Filter | None, groups: tuple[str, ...] | None) -> Filter | None:
    if groups is None:
        return filter
    return (filter or Filter()).restricted_to(groups)


def _to_node(passage: Passage) -> NodeWithScore:
    node = TextNode(
        id_=passage.id,
        text=passage.text,
        metadata=passage.metadata(),
        excluded_llm_metadata_keys=_HIDDEN_FROM_LLM,
        excluded_embed_metadata_keys=_HIDDEN_FROM_LLM,
    )
    return NodeWithScore(node=node, score=passage.score)
