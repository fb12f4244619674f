"""The store's own lock: a refused second open never touches the files of a holder that writes.

Found 2026-11-29: while `msrag ingest` held the store with unflushed writes, a second process's
refused open (qdrant-edge's own lock comes too late) rewrote files of the holder's segments and
the holder's next flush failed. The holder here is a real `msrag ingest` of 200 files.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retrieval.errors import StoreLockedError
from retrieval.ingest.offline import OfflineModels
from retrieval.schema import Layout
from retrieval.stores import EdgeStore
from retrieval.stores.edge import LAYOUT_FILE
from retrieval.stores.folder_lock import FolderLock
from tests.retrieval.stores.conftest import make_layout
from tests.retrieval.stores.helpers import cli_env

MSRAG = Path(sys.executable).parent / "msrag"
FILES = 200


def write_files(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"note_{i:03d}.txt").write_text(
            f"Note {i}. The lighthouse keeper logged ship number {i * 7 % 101} at dawn "
            f"and counted {i % 17} gulls on the rocks."
        )


def stored_sources(path: Path) -> set[str]:
    layout = Layout.from_dict(json.loads((path / LAYOUT_FILE).read_text()))
    with EdgeStore(path, layout) as store:
        return {p["source"] for _, p in store.scroll_payloads(["source"])}


@pytest.mark.slow
def test_refused_opens_during_a_writing_ingest_leave_it_intact(
    tmp_path: Path, offline_model_dirs: OfflineModels
) -> None:
    write_files(tmp_path / "notes", FILES)
    data = tmp_path / "data"
    store_path = data / "msrag"
    # Small batches: many upserts and several timed flushes while the second process knocks.
    env = cli_env(offline_model_dirs, data, MSRAG_ENCODE_BATCH_SIZE="4")
    holder = subprocess.Popen(
        [str(MSRAG), "ingest", "notes"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    refused = 0
    try:
        deadline = time.monotonic() + 120
        while not (store_path / LAYOUT_FILE).exists():  # the holder has created the store
            assert holder.poll() is None, holder.communicate()
            assert time.monotonic() < deadline, "the ingest never created the store"
            time.sleep(0.05)
        layout = Layout.from_dict(json.loads((store_path / LAYOUT_FILE).read_text()))
        # Knock repeatedly for the whole run, as a user running `msrag status` would.
        while holder.poll() is None:
            try:
                EdgeStore(store_path, layout).close()
            except StoreLockedError as exc:
                assert "in use by another process" in str(exc)
                refused += 1
                time.sleep(0.2)
            else:
                break  # the holder has closed the store and is printing its report
        out, err = holder.communicate(timeout=60)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.communicate()
    assert holder.returncode == 0, out + err
    assert refused >= 5, f"only {refused} refused opens: the ingest ran too fast to test"
    assert stored_sources(store_path) == {f"notes/note_{i:03d}.txt" for i in range(FILES)}


def test_the_lock_is_taken_before_the_engine_touches_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s"
    layout = make_layout()
    EdgeStore(path, layout).close()
    before = {p: p.stat().st_mtime_ns for p in path.rglob("*")}
    with FolderLock(path):  # held by "someone else"
        import qdrant_edge

        def must_not_run(*_: object) -> None:
            raise AssertionError("the engine was called while the lock is held elsewhere")

        monkeypatch.setattr(qdrant_edge.EdgeShard, "load", must_not_run)
        with pytest.raises(StoreLockedError):
            EdgeStore(path, layout)
    assert {p: p.stat().st_mtime_ns for p in path.rglob("*")} == before


def test_released_on_close_and_after_a_failed_open(tmp_path: Path) -> None:
    path = tmp_path / "s"
    EdgeStore(path, make_layout()).close()
    with FolderLock(path):
        pass  # free after close
    with pytest.raises(Exception, match="colbert_dim"):
        EdgeStore(path, make_layout(colbert_dim=48))  # layout mismatch after taking the lock
    with FolderLock(path):
        pass  # and free again
