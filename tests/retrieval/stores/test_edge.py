"""EdgeStore on the real qdrant-edge engine: layout, persistence, the folder lock, durability."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from msrag.settings import Settings
from retrieval.errors import LayoutMismatchError, StoreLockedError, StoreUnavailableError
from retrieval.schema import Layout
from retrieval.stores import EdgeStore, open_store
from retrieval.stores.edge import LAYOUT_FILE
from retrieval.types import QueryPlan
from tests.retrieval.stores.conftest import Corpus, Reference, StoreContract, make_layout

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory, layout: Layout, corpus: Corpus
) -> Iterator[EdgeStore]:
    store = EdgeStore(tmp_path_factory.mktemp("edge") / "shard", layout)
    store.upsert(corpus.chunks, corpus.vectors)
    store.optimize()
    yield store
    store.close()


@pytest.fixture
def empty_store(tmp_path: Path, layout: Layout) -> Iterator[EdgeStore]:
    with EdgeStore(tmp_path / "shard", layout) as store:
        yield store


@pytest.fixture
def no_muvera_store(tmp_path: Path) -> Iterator[EdgeStore]:
    with EdgeStore(tmp_path / "plain", make_layout()) as store:
        yield store


class TestEdgeContract(StoreContract):
    """The shared behaviour, on qdrant-edge."""


def _child(code: str, *args: str) -> subprocess.Popen[str]:
    """A real second Python process running `code` against the repository's package."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


_HOLD = """
    import json, sys
    from retrieval.schema import Layout
    from retrieval.stores.edge import EdgeStore
    store = EdgeStore(sys.argv[1], Layout.from_dict(json.loads(sys.argv[2])))
    print("ready", flush=True)
    sys.stdin.readline()  # hold the store until the parent says so
    store.close()
"""


class TestPersistence:
    def test_layout_file_is_written_at_creation(self, tmp_path: Path, layout: Layout) -> None:
        EdgeStore(tmp_path / "s", layout).close()
        assert Layout.from_dict(json.loads((tmp_path / "s" / LAYOUT_FILE).read_text())) == layout

    def test_points_survive_close_and_reopen(
        self,
        tmp_path: Path,
        layout: Layout,
        corpus: Corpus,
        reference: Reference,
        check_matches: Callable[..., None],
    ) -> None:
        with EdgeStore(tmp_path / "s", layout) as store:
            store.upsert(corpus.chunks, corpus.vectors)
        with EdgeStore(tmp_path / "s", layout) as store:
            assert store.count() == len(corpus.chunks)
            for mode in ("dense", "bm25", "hybrid+colbert+rrf"):
                plan = QueryPlan(mode, corpus.queries[3], top_k=10, prefetch_limit=30)
                check_matches(store.query(plan), plan, reference.expected(plan))

    def test_reopen_with_another_layout_names_the_difference(
        self, tmp_path: Path, layout: Layout
    ) -> None:
        EdgeStore(tmp_path / "s", layout).close()
        other = make_layout(muvera_dim=64, colbert_dim=48, colbert_datatype="float16")
        with pytest.raises(LayoutMismatchError) as err:
            EdgeStore(tmp_path / "s", other)
        message = str(err.value)
        assert "colbert_dim: stored 32 → configured 48" in message
        assert "colbert_datatype: stored 'float32' → configured 'float16'" in message
        assert "dense_dim" not in message
        assert str(tmp_path / "s") in message

    def test_a_shard_without_our_layout_record_is_refused(
        self, tmp_path: Path, layout: Layout
    ) -> None:
        EdgeStore(tmp_path / "s", layout).close()
        (tmp_path / "s" / LAYOUT_FILE).unlink()
        with pytest.raises(StoreUnavailableError, match="without msrag-layout.json"):
            EdgeStore(tmp_path / "s", layout)

    def test_disk_bytes_and_describe(self, store: EdgeStore) -> None:
        assert store.disk_bytes() > 100_000  # 300 points with 10–40 token vectors each
        assert store.describe() == f"embedded store at {store.path}"

    def test_layout_options_create_a_working_shard(
        self,
        tmp_path: Path,
        corpus: Corpus,
        reference: Reference,
        check_matches: Callable[..., None],
    ) -> None:
        # Quantized vectors are rescored with the originals, so results stay exact.
        layout = make_layout(
            colbert_quantization="int8", dense_quantization="int8", colbert_on_disk=True
        )
        with EdgeStore(tmp_path / "q", layout) as store:
            store.upsert(corpus.chunks, corpus.vectors)
            store.optimize()
            for mode in ("dense", "dense+colbert"):
                plan = QueryPlan(mode, corpus.queries[4], top_k=10, prefetch_limit=30)
                check_matches(store.query(plan), plan, reference.expected(plan))

    def test_float16_colbert_is_close_to_float32(
        self, tmp_path: Path, corpus: Corpus, reference: Reference
    ) -> None:
        with EdgeStore(tmp_path / "h", make_layout(colbert_datatype="float16")) as store:
            store.upsert(corpus.chunks, corpus.vectors)
            plan = QueryPlan("dense+colbert", corpus.queries[5], top_k=10, prefetch_limit=30)
            expected, _ = reference.expected(plan)
            got = store.query(plan)
            assert [p.score for p in got] == pytest.approx([s for _, s in expected], abs=5e-3)


class TestProcesses:
    def test_second_process_gets_a_clear_lock_error(self, tmp_path: Path, layout: Layout) -> None:
        path = tmp_path / "locked"
        EdgeStore(path, layout).close()
        child = _child(_HOLD, str(path), json.dumps(layout.to_dict()))
        try:
            assert child.stdout.readline().strip() == "ready", child.stderr.read()
            with pytest.raises(StoreLockedError) as err:
                EdgeStore(path, layout)
            # the folder, why it cannot be opened and the two ways out
            message = str(err.value)
            assert str(path) in message and "in use by another process" in message
            assert "stop it" in message and "MSRAG_DATA_DIR" in message
        finally:
            child.communicate("\n", timeout=60)
        assert child.returncode == 0
        # Released when the other process closes it.
        with EdgeStore(path, layout) as store:
            assert store.count() == 0

    def test_upserts_survive_kill_9(self, tmp_path: Path, layout: Layout, corpus: Corpus) -> None:
        path = tmp_path / "killed"
        code = """
            import json, sys, time
            from retrieval.schema import Layout
            from retrieval.stores.edge import EdgeStore
            from tests.retrieval.stores.conftest import make_corpus
            corpus = make_corpus()
            store = EdgeStore(sys.argv[1], Layout.from_dict(json.loads(sys.argv[2])))
            # Two quick batches: the second is well inside the flush interval, so only the
            # write-ahead log holds it when the process dies.
            store.upsert(corpus.chunks[:150], corpus.vectors[:150])
            store.upsert(corpus.chunks[150:], corpus.vectors[150:])
            print("upserted", flush=True)
            time.sleep(600)
        """
        child = _child(code, str(path), json.dumps(layout.to_dict()))
        try:
            assert child.stdout.readline().strip() == "upserted", child.stderr.read()
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.communicate(timeout=60)
        assert child.returncode == -signal.SIGKILL
        with EdgeStore(path, layout) as store:
            assert store.count() == len(corpus.chunks)
            ids = {point_id for point_id, _ in store.scroll_payloads(["source"])}
            assert ids == {c.id for c in corpus.chunks}


def test_open_store_without_url_is_the_embedded_store(tmp_path: Path, layout: Layout) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, collection="c")  # type: ignore[call-arg]
    store = open_store(settings, layout)
    try:
        assert isinstance(store, EdgeStore)
        assert store.path == tmp_path / "c"
    finally:
        store.close()
