"""A damaged or foreign store folder is refused with a sentence naming the way out — never used.

Each case damages a copy of a real qdrant-edge store (the synthetic corpus, part of it in
segments and part only in the write-ahead log) the way a bad disk, a bad copy or another
version would, then opens and queries it as the product does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from retrieval.errors import LayoutMismatchError, StoreCorruptError, StoreUnavailableError
from retrieval.stores import EdgeStore
from retrieval.stores.edge import LAYOUT_FILE
from retrieval.types import QueryPlan
from tests.retrieval.stores.conftest import Corpus, make_layout
from tests.retrieval.stores.helpers import namespaces_work

REPO = Path(__file__).resolve().parents[3]
RESTORE = "restore the folder from a backup, or move it aside and run `msrag ingest`"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, corpus: Corpus) -> Path:
    path = tmp_path_factory.mktemp("pristine") / "store"
    with EdgeStore(path, make_layout()) as store:
        store.upsert(corpus.chunks[:150], corpus.vectors[:150])
        store.optimize()
        store.upsert(corpus.chunks[150:], corpus.vectors[150:])
    return path


@pytest.fixture
def copy(pristine: Path, tmp_path: Path) -> Path:
    target = tmp_path / "store"
    shutil.copytree(pristine, target)
    return target


def segment(store: Path) -> Path:
    (folder,) = (store / "segments").iterdir()
    return folder


def use(path: Path, corpus: Corpus) -> list[list[str]]:
    """Open and query the store as the retriever does; the ranked ids of three modes."""
    with EdgeStore(path, make_layout()) as store:
        return [
            [p.id for p in store.query(QueryPlan(mode, corpus.queries[0], top_k=10))]
            for mode in ("dense", "bm25", "hybrid+colbert")
        ]


def truncate(path: Path, size: int) -> None:
    with path.open("r+b") as f:
        f.truncate(size)


def scribble(path: Path, size: int) -> None:
    with path.open("r+b") as f:
        f.write(os.urandom(size))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "garbage write-ahead log": lambda s: scribble(s / "wal" / "open-1", 4096),
    "truncated payload storage": lambda s: truncate(
        segment(s) / "payload_storage" / "page_0.dat", 0
    ),
    "truncated id tracker": lambda s: truncate(segment(s) / "mutable_id_tracker.mappings", 100),
    "truncated multivector offsets": lambda s: truncate(
        segment(s) / "vector_storage-colbert" / "offsets" / "chunk_0.mmap", 0
    ),
    "missing segment state": lambda s: (segment(s) / "segment.json").unlink(),
    "garbage engine config": lambda s: (s / "edge_config.json").write_text("garbage"),
}


def test_the_pristine_copy_works(copy: Path, corpus: Corpus) -> None:
    assert all(len(ids) == 10 for ids in use(copy, corpus))


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_store_is_refused_naming_the_backup(
    damage: str, copy: Path, corpus: Corpus
) -> None:
    DAMAGE[damage](copy)
    with pytest.raises(StoreCorruptError) as err:
        use(copy, corpus)
    message = str(err.value)
    assert message.startswith(f"The embedded store at {copy} is damaged and was not used (")
    assert RESTORE in message
    assert "\n" not in message
    # Refused again on the next try (nothing was "repaired" into wrong results), and the
    # folder's lock was released so that a restore or a move can happen.
    with pytest.raises(StoreCorruptError):
        use(copy, corpus)


def test_a_layout_record_from_another_version_names_reindex(copy: Path) -> None:
    record = json.loads((copy / LAYOUT_FILE).read_text())
    (copy / LAYOUT_FILE).write_text(json.dumps({**record, "version": 0}))
    with pytest.raises(LayoutMismatchError) as err:
        EdgeStore(copy, make_layout())
    assert "version: stored 0 → configured 1" in str(err.value)
    assert "msrag reindex" in str(err.value)


def test_an_unreadable_layout_record_is_one_sentence(copy: Path) -> None:
    (copy / LAYOUT_FILE).write_text('{"dense_model": "x"')
    with pytest.raises(StoreUnavailableError, match="is unreadable"):
        EdgeStore(copy, make_layout())


READ_ONLY = """
    import json, sys
    from retrieval.errors import StoreUnavailableError
    from retrieval.stores import EdgeStore
    from tests.retrieval.stores.conftest import make_layout
    try:
        EdgeStore(sys.argv[1], make_layout())
    except StoreUnavailableError as exc:
        print(type(exc).__name__, exc)
"""


@pytest.mark.skipif(not namespaces_work(), reason="no user+mount namespaces here (unshare -rm)")
def test_a_read_only_data_directory_is_one_sentence(copy: Path) -> None:
    data = copy.parent
    # A read-only bind mount of the data directory (even root cannot write through it).
    script = (
        f"mount --bind {data} {data} && mount -o remount,bind,ro {data} && "
        f'{sys.executable} -c "$0" {copy}'
    )
    run = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, textwrap.dedent(READ_ONLY)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    kind, _, message = run.stdout.strip().partition(" ")
    assert kind == "StoreUnavailableError", run.stdout
    # the folder, what is wrong with it and the two ways out, in one sentence
    assert f"{data} is not writable" in message and "Read-only file system" in message
    assert "make it writable" in message and "MSRAG_DATA_DIR" in message
    assert "\n" not in message and message.endswith(".")
