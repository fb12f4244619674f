"""A disk that fills up under the embedded store: one sentence, nothing lost, the rerun completes.

The real fault runs `msrag` on a small tmpfs mounted in a private mount namespace
(`unshare --user --map-root-user --mount`, so it needs no root). Without the guard, qdrant-edge
dies with SIGBUS on the full disk (exit 135), while ingesting and even while opening the store.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest

from retrieval.errors import StoreFullError
from retrieval.ingest.offline import OfflineModels
from retrieval.stores import EdgeStore, disk_space
from retrieval.types import Filter
from tests.retrieval.stores.conftest import make_layout
from tests.retrieval.stores.helpers import cli_env, namespaces_work

MSRAG = Path(sys.executable).parent / "msrag"
MIN_FREE_MB = 200

# Inside the namespace: a 400 MB tmpfs, a first ingest, then a filler file leaves MIN_FREE_MB +
# 4 MB free, less than the second ingest needs (~8 MB), so it stops in the middle.
SCRIPT = r"""
set -u
mount -t tmpfs -o size=400m tmpfs mnt || exit 99
step() { "$@" > out.txt 2>&1; echo "== $* rc=$?"; cat out.txt; }
step {msrag} ingest part1
step {msrag} status
avail=$(df -k --output=avail mnt | tail -1)
dd if=/dev/zero of=mnt/filler bs=1k count=$((avail - ({min} + 4) * 1024)) status=none
step {msrag} ingest part2
step {msrag} status
rm mnt/filler
step {msrag} status
step {msrag} ingest part2
step {msrag} status
"""


def write_part(folder: Path, files: int, words: int) -> None:
    folder.mkdir()
    for i in range(files):
        sentences = [
            f"Log {folder.name} {i}.{s}: the pump at station {s * 13 % 97} moved "
            f"{(i * 31 + s) % 1000} litres before the valve {s % 7} closed."
            for s in range(words // 16)
        ]
        (folder / f"log_{i:02d}.txt").write_text(" ".join(sentences))


Step = namedtuple("Step", "command rc output")


def steps(log: str) -> list[Step]:
    parts = re.split(r"^== (.*) rc=(\d+)$", log, flags=re.M)
    return [
        Step(c, int(rc), out)
        for c, rc, out in zip(parts[1::3], parts[2::3], parts[3::3], strict=True)
    ]


def documents(status_output: str) -> int:
    return int(re.search(r"Documents: (\d+)", status_output).group(1))


@pytest.mark.slow
@pytest.mark.skipif(not namespaces_work(), reason="no user+mount namespaces here (unshare -rm)")
def test_a_full_disk_mid_ingest_is_one_sentence_and_loses_nothing(
    tmp_path: Path, offline_model_dirs: OfflineModels
) -> None:
    write_part(tmp_path / "part1", files=5, words=200)
    write_part(tmp_path / "part2", files=8, words=1200)
    (tmp_path / "mnt").mkdir()
    env = cli_env(
        offline_model_dirs,
        tmp_path / "mnt" / "data",
        MSRAG_MIN_FREE_MB=str(MIN_FREE_MB),
        MSRAG_ENCODE_BATCH_SIZE="8",
    )
    script = SCRIPT.replace("{msrag}", str(MSRAG)).replace("{min}", str(MIN_FREE_MB))
    run = subprocess.run(
        ["unshare", "-rm", "bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode != 99, run.stderr
    first, settled, full, full_status, freed, rerun, final = steps(run.stdout)
    assert first.rc == 0 and settled.rc == 0 and documents(settled.output) == 5, run.stdout
    # The disk fills in the middle of the second ingest: exit 2 and one sentence, no SIGBUS.
    assert full.rc == 3, full.output  # EXIT_UPSTREAM: the store could not be written
    sentence = " ".join(full.output.split())
    assert "free some space and run the command again; nothing stored so far is lost" in sentence
    assert "Traceback" not in full.output
    assert "Encoding + storing" in full.output  # it stopped while writing, not before
    # Still full: opening is refused the same way instead of crashing.
    assert full_status.rc == 3 and "MSRAG_MIN_FREE_MB" in full_status.output
    # Space freed: the store opens with everything it had, and the rerun completes.
    assert freed.rc == 0 and documents(freed.output) >= 5, freed.output
    assert rerun.rc == 0, rerun.output
    assert final.rc == 0 and documents(final.output) == 13, final.output


def test_the_guard_refuses_open_and_every_write(tmp_path: Path, monkeypatch) -> None:
    """The same guard with an injected free-space figure (runs everywhere)."""
    store = EdgeStore(tmp_path / "s", make_layout(), min_free_mb=100)
    usage = shutil.disk_usage(tmp_path)
    try:
        monkeypatch.setattr(
            disk_space.shutil, "disk_usage", lambda _: usage._replace(free=99 * 2**20)
        )
        for write in (lambda: store.delete(Filter(must={"source": "x"})), store.optimize):
            with pytest.raises(StoreFullError, match="only 99 MB free, less than the 100 MB"):
                write()
        store.upsert([], [])  # an empty batch writes nothing, so it needs no space
    finally:
        monkeypatch.undo()
        store.close()
    monkeypatch.setattr(disk_space.shutil, "disk_usage", lambda _: usage._replace(free=0))
    with pytest.raises(StoreFullError):
        EdgeStore(tmp_path / "s", make_layout(), min_free_mb=100)
    with EdgeStore(tmp_path / "s", make_layout(), min_free_mb=0) as store:  # 0 = no check
        assert store.count() == 0
