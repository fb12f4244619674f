"""`FolderLock`: our own exclusive lock on an embedded store, taken before the engine runs.

qdrant-edge locks its write-ahead log, but only after it has opened (and partly rewritten) the
shard's segment files: a second process that is refused still touches the holder's files, and
the holder's next flush then fails ("Tracker journal … is shorter than expected"). So every
process takes this lock first, and a refused one never lets the engine near the folder.

The lock is an exclusive `fcntl.flock` on `<folder>.lock` next to the folder (in the data
directory), so it outlives `msrag reindex` deleting and rebuilding the folder itself. The kernel
drops a flock when its process dies, even by `kill -9`: a stale lock file never blocks anyone.

    with FolderLock(Path(".msrag/msrag")):
        shard = qe.EdgeShard.load(".msrag/msrag")
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from retrieval.errors import StoreLockedError, StoreUnavailableError


class FolderLock:
    """An exclusive, non-blocking, process-wide lock on `folder` (held until `release()`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.file = self.folder.parent / f"{self.folder.name}.lock"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock now or raise `StoreLockedError`; `StoreUnavailableError` if the data
        directory cannot hold a lock file (read-only, missing permissions, full)."""
        if self._fd is not None:
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreUnavailableError(_unusable(self.file.parent, exc)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise StoreLockedError(
                f"The store at {self.folder} is in use by another process (e.g. `msrag ui`); "
                "stop it or set MSRAG_DATA_DIR to another folder."
            ) from exc
        except OSError as exc:  # e.g. a network file system without flock support
            os.close(fd)
            raise StoreUnavailableError(_unusable(self.file.parent, exc)) from exc
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            # Closing the descriptor releases the flock; the file stays (unlinking it would let
            # two processes lock two different files of the same name).
            os.close(fd)

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _unusable(directory: Path, exc: OSError) -> str:
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return (
            f"The data directory {directory} is not writable ({exc.strerror}); the embedded "
            "store needs to write there: make it writable or set MSRAG_DATA_DIR to another folder."
        )
    if exc.errno == errno.ENOSPC:
        return (
            f"The disk holding {directory} is full; free some space and run the command again "
            "(nothing stored so far is lost)."
        )
    return (
        f"The data directory {directory} cannot hold the store's lock file ({exc}); check the "
        "folder, or set MSRAG_DATA_DIR to a local folder."
    )
