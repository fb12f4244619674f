"""Access groups inside the universal query, on both stores: every mode, hostile filters, grant
and revoke without re-encoding, old stores brought up to date, and a property test.

The corpus is the synthetic one of the store tests (random vectors, so no ties), re-labelled
into 12 sources; each test assigns groups per source with `set_groups` — a payload update —
and compares each store's answer with the numpy reference restricted to what the caller may see.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import qdrant_edge as qe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qdrant_client import QdrantClient

from retrieval.access import PUBLIC, GroupNameError, visible
from retrieval.modes import MODES
from retrieval.schema import Layout
from retrieval.stores import EdgeStore, ServerStore, Store
from retrieval.stores.edge import LAYOUT_FILE
from retrieval.types import Filter, QueryPlan
from tests.retrieval.stores.conftest import FUSED_MODES, Corpus, Reference, make_corpus

N = 120
SOURCES = [f"docs/{i:02d}.md" for i in range(12)]
GROUPS = ("hr", "legal", "eng")
USERS = {"nobody": (), "hr": ("hr",), "hr+legal": ("hr", "legal")}


def labelled(corpus: Corpus, assignment: dict[str, tuple[str, ...]]) -> Corpus:
    """The corpus with 12 sources and each source's groups (what the stores hold)."""
    chunks = []
    for i, chunk in enumerate(corpus.chunks):
        source = SOURCES[i % len(SOURCES)]
        chunks.append(replace(chunk, source=source, groups=assignment.get(source, ())))
    return Corpus(chunks, corpus.vectors, corpus.queries)


@pytest.fixture(scope="module")
def base() -> Corpus:
    return make_corpus(n=N, n_queries=6, seed=11)


@pytest.fixture(scope="module", params=["edge", "server"])
def store(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    layout: Layout,
    base: Corpus,
) -> Iterator[Store]:
    if request.param == "edge":
        store: Store = EdgeStore(tmp_path_factory.mktemp("access") / "shard", layout)
    else:
        store = ServerStore(QdrantClient(":memory:"), "msrag", layout)
    public = labelled(base, {})
    store.upsert(public.chunks, public.vectors)
    store.optimize()
    yield store
    store.close()


def assign(store: Store, assignment: dict[str, tuple[str, ...]]) -> None:
    for source in SOURCES:
        store.set_groups(Filter(must={"source": source}), assignment.get(source, ()))


def check(
    store: Store, corpus: Corpus, mode: str, groups: tuple[str, ...], query: int, k: int = 10
) -> list[str]:
    """Run one filtered query; it must equal the reference restricted to the allowed points."""
    plan = QueryPlan(
        mode,  # type: ignore[arg-type]
        corpus.queries[query],
        top_k=k,
        prefetch_limit=2 * N,  # deeper than the corpus: no candidate is lost to the cut
        filter=Filter(groups=groups),
    )
    passages = store.query(plan)
    allowed = {c.id for c in corpus.chunks if visible(_payload(c.groups), groups)}
    assert {p.id for p in passages} <= allowed, "a passage the caller may not see was returned"
    top, scores = Reference(corpus).expected(plan)
    assert len(passages) == len(top), "results were lost (or invented) by the filter"
    if mode in FUSED_MODES:
        np.testing.assert_allclose([p.score for p in passages], [s for _, s in top], atol=1e-4)
        assert all(abs(scores[p.id] - p.score) <= 1e-4 for p in passages)
    else:
        assert [p.id for p in passages] == [i for i, _ in top]
        np.testing.assert_allclose([p.score for p in passages], [s for _, s in top], atol=1e-4)
    return [p.id for p in passages]


def _payload(groups: tuple[str, ...]) -> list[str]:
    return list(groups) if groups else [PUBLIC]


ASSIGNMENT = {SOURCES[i]: (("hr",), ("legal",), ("hr", "legal"), ())[i % 4] for i in range(12)}


class TestEveryModeEveryUser:
    @pytest.mark.parametrize("user", list(USERS))
    @pytest.mark.parametrize("mode", MODES)
    def test_only_allowed_passages_and_none_lost(
        self, store: Store, base: Corpus, mode: str, user: str
    ) -> None:
        assign(store, ASSIGNMENT)
        corpus = labelled(base, ASSIGNMENT)
        for q in range(len(corpus.queries)):
            check(store, corpus, mode, USERS[user], q)

    def test_unrestricted_and_public_only_differ(self, store: Store, base: Corpus) -> None:
        assign(store, ASSIGNMENT)
        plan = QueryPlan("hybrid+colbert", base.queries[0], top_k=N, prefetch_limit=N)
        everything = store.query(plan)
        public = store.query(replace(plan, filter=Filter(groups=())))
        assert len(everything) == N
        assert {p.groups for p in public} == {(PUBLIC,)}
        assert len(public) == N // 4

    def test_count_and_scroll_honour_groups(self, store: Store) -> None:
        assign(store, ASSIGNMENT)
        assert store.count(Filter(groups=())) == N // 4
        assert store.count(Filter(groups=("hr",))) == 3 * N // 4
        rows = list(store.scroll_payloads(["groups"], Filter(groups=("legal",))))
        assert len(rows) == 3 * N // 4
        assert all(set(p["groups"]) & {PUBLIC, "legal"} for _, p in rows)


class TestHostileFilters:
    """A filter built from user input can only narrow what the caller's groups allow."""

    HOSTILE = [
        "*",
        '"',
        "' OR '1'='1",
        '") OR groups:*',
        "docs/*.md",
        "%",
        "\\",
        "\x00",
        "x" * 100_000,
        PUBLIC,
        "hr",
    ]

    @pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
    def test_source_and_groups_keys_cannot_widen(
        self, store: Store, base: Corpus, value: str
    ) -> None:
        assign(store, ASSIGNMENT)
        corpus = labelled(base, ASSIGNMENT)
        public = {c.id for c in corpus.chunks if not c.groups}
        for must in (
            {"source": value},
            {"source": [value, *SOURCES]},
            {"groups": value},
            {"groups": [value, "hr", "legal", PUBLIC]},
        ):
            for mode in MODES:
                plan = QueryPlan(
                    mode,  # type: ignore[arg-type]
                    corpus.queries[1],
                    top_k=N,
                    prefetch_limit=N,
                    filter=Filter(must=must, must_not={"groups": value}, groups=()),
                )
                got = {p.id for p in store.query(plan)}
                assert got <= public, f"{mode} with must={str(must)[:60]} widened access"

    @pytest.mark.parametrize("name", ["*", "hr,legal", "Hr Legal", PUBLIC, "a" * 65, '"', "é"])
    def test_a_hostile_group_name_is_refused_not_matched(self, store: Store, name: str) -> None:
        with pytest.raises(GroupNameError):
            store.count(Filter(groups=(name,)))

    def test_a_narrower_filter_and_wider_access_intersect(self) -> None:
        narrowed = Filter(groups=("hr",)).restricted_to(("hr", "legal"))
        assert narrowed.groups == ("hr",)
        assert Filter(groups=("legal",)).restricted_to(("hr",)).groups == ()


class TestGrantRevoke:
    def test_grant_and_revoke_change_visibility_without_reencoding(
        self, store: Store, base: Corpus
    ) -> None:
        assign(store, {s: ("legal",) for s in SOURCES})
        target = Filter(must={"source": SOURCES[0]})
        before = {i: p for i, p in store.scroll_payloads(["text", "chunk_index"], target)}
        assert store.count(Filter(groups=("hr",))) == 0

        store.set_groups(target, ("legal", "hr"))  # grant hr
        assert store.count(Filter(groups=("hr",))) == N // 12
        assert store.count(Filter(groups=("legal",))) == N
        plan = QueryPlan("dense", base.vectors[0], top_k=1, filter=Filter(groups=("hr",)))
        [top] = store.query(plan)
        assert top.id == base.chunks[0].id
        assert top.score == pytest.approx(1.0, abs=1e-5)  # the same stored vector, not re-made

        store.set_groups(target, ("legal",))  # revoke hr
        assert store.count(Filter(groups=("hr",))) == 0
        after = {i: p for i, p in store.scroll_payloads(["text", "chunk_index"], target)}
        assert after == before  # the rest of the payload is untouched

    def test_set_groups_needs_a_filter(self, store: Store) -> None:
        with pytest.raises(ValueError, match="non-empty filter"):
            store.set_groups(Filter(), ("hr",))


class TestOlderStores:
    """A store written before access groups existed: every point was visible to everyone."""

    def test_edge_store_gets_the_index_and_public_points(
        self, tmp_path: Path, layout: Layout, base: Corpus
    ) -> None:
        corpus = labelled(base, {})
        path = tmp_path / "shard"
        with EdgeStore(path, layout) as store:
            store.upsert(corpus.chunks, corpus.vectors)
            ids = [c.id for c in corpus.chunks]
            store._shard.update(qe.UpdateOperation.delete_payload(ids, ["groups"]))
        record = json.loads((path / LAYOUT_FILE).read_text())
        del record["payload_indexes"]  # what an older version wrote
        (path / LAYOUT_FILE).write_text(json.dumps(record))
        with EdgeStore(path, layout) as store:
            assert store.count(Filter(groups=())) == N
            assert {tuple(p["groups"]) for _, p in store.scroll_payloads(["groups"])} == {(PUBLIC,)}
        assert "groups" in json.loads((path / LAYOUT_FILE).read_text())["payload_indexes"]

    def test_server_collection_gets_public_points(self, layout: Layout, base: Corpus) -> None:
        corpus = labelled(base, {})
        client = QdrantClient(":memory:")
        ServerStore(client, "old", layout).upsert(corpus.chunks, corpus.vectors)
        client.delete_payload("old", keys=["groups"], points=[c.id for c in corpus.chunks])
        store = ServerStore(client, "old", layout)
        assert store.count(Filter(groups=())) == N

    def test_a_point_without_groups_is_seen_by_nobody_restricted(
        self, tmp_path: Path, layout: Layout, base: Corpus
    ) -> None:
        # written by something else after the upgrade: fails closed, not open
        corpus = labelled(base, {})
        with EdgeStore(tmp_path / "shard", layout) as store:
            store.upsert(corpus.chunks[:5], corpus.vectors[:5])
            store._shard.update(
                qe.UpdateOperation.delete_payload([corpus.chunks[0].id], ["groups"])
            )
            assert store.count(Filter(groups=("hr", "legal"))) == 4
            assert store.count() == 5


# --- the property ---------------------------------------------------------------------------

group_sets = st.sets(st.sampled_from(GROUPS), max_size=2).map(lambda s: tuple(sorted(s)))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    assignment=st.fixed_dictionaries({s: group_sets for s in SOURCES}),
    user=group_sets,
    mode=st.sampled_from(MODES),
    query=st.integers(0, 5),
    k=st.integers(1, N),
)
def test_property_returned_is_the_unfiltered_ranking_restricted_to_what_is_allowed(
    store: Store,
    base: Corpus,
    assignment: dict[str, tuple[str, ...]],
    user: tuple[str, ...],
    mode: str,
    query: int,
    k: int,
) -> None:
    assign(store, assignment)
    corpus = labelled(base, assignment)
    returned = check(store, corpus, mode, user, query, k)
    if mode in FUSED_MODES:
        return  # fusion ranks depend on the candidate lists: compared with the reference above
    # The engine's own unfiltered ranking, cut to the allowed points, is the filtered answer.
    everything = store.query(
        QueryPlan(mode, corpus.queries[query], top_k=N, prefetch_limit=2 * N)  # type: ignore[arg-type]
    )
    allowed = {c.id for c in corpus.chunks if visible(_payload(c.groups), user)}
    assert returned == [p.id for p in everything if p.id in allowed][:k]


@pytest.mark.parametrize("mode", MODES)
def test_every_stage_of_every_mode_carries_the_groups(
    layout: Layout, base: Corpus, mode: str
) -> None:
    from retrieval.plan import render
    from retrieval.types import Stage

    def stages(stage: Stage) -> Iterator[Stage]:
        yield stage
        for child in stage.children:
            yield from stages(child)

    plan = QueryPlan(mode, base.queries[0], filter=Filter(groups=("hr",)))  # type: ignore[arg-type]
    tree = list(stages(render(plan, layout)))
    assert len(tree) >= (1 if mode in ("dense", "bm25") else 2)
    assert all(s.filter is not None and s.filter.groups == ("hr",) for s in tree)
