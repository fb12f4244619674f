"""Refuse to let the embedded engine write when its disk is nearly full.

qdrant-edge writes through memory-mapped files. When the disk runs out under a mapping, the
kernel does not return an error the engine could report: it kills the process with SIGBUS
(seen on a full tmpfs, both while ingesting and while *opening* a store, which creates a new
appendable segment of ~100 MB of mapped files). So the only safe way to handle "disk full" is
not to get there: every open and every write first checks the free space against
`MSRAG_MIN_FREE_MB` and stops with one sentence while the store is still intact.

    ensure_free_space(Path(".msrag/msrag"), min_free_mb=256)
"""

from __future__ import annotations

import shutil
from pathlib import Path

from retrieval.errors import StoreFullError


def free_mb(path: Path) -> float:
    """Free megabytes on the file system holding `path` (or its nearest existing parent)."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free / 2**20


def ensure_free_space(path: Path, min_free_mb: float) -> None:
    """Raise `StoreFullError` when the disk holding `path` has less than `min_free_mb` free."""
    if min_free_mb <= 0:
        return
    free = free_mb(path)
    if free < min_free_mb:
        raise StoreFullError(
            f"The disk holding the store at {path} has only {free:.0f} MB free, less than the "
            f"{min_free_mb:.0f} MB it needs to write safely (MSRAG_MIN_FREE_MB): free some "
            "space and run the command again; nothing stored so far is lost."
        )
