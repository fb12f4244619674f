"""Files uploaded in the browser → saved under the data directory → ingested one by one.

Ingesting file by file lets the page move its progress bar per file and report each file's
outcome (ingested, unchanged, skipped with the reason, failed with the reason); a bad file
never stops the others. Uploads are kept (in `<data_dir>/uploads/`) because the store cites
them by path, and re-uploading a changed file replaces its chunks as `msrag ingest` does.

    files = [("notes.md", b"# Notes\\nhello")]
    results = ingest_uploads(files, settings, store, encoders)
    results[0].status, results[0].chunks
    # -> ('ingested', 1)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from regress.settings import RegressSettings
from retrieval.errors import RetrievalError
from retrieval.ingest.loaders import SUPPORTED_SUFFIXES
from retrieval.ingest.pipeline import DocumentEncoder, FileResult, ingest
from retrieval.stores.base import Store

# What the upload widget accepts (the loaders' types, without the dot).
UPLOAD_TYPES: tuple[str, ...] = tuple(sorted(s.lstrip(".") for s in SUPPORTED_SUFFIXES))
_UNSAFE = re.compile(r"[^\w.\- ]+", re.UNICODE)
_MAX_NAME_BYTES = 200  # file systems allow 255; room left for a temporary suffix

Progress = Callable[[int, int, str], None]  # (files done, files in total, current file name)


def upload_dir(settings: RegressSettings) -> Path:
    return settings.data_dir / "uploads"


def safe_name(name: str) -> str:
    """The uploaded file's own name, stripped of any directory part and odd characters, and
    short enough for any file system (255 bytes) with its type kept."""
    base = Path(name.replace("\\", "/")).name
    cleaned = _UNSAFE.sub("_", base).strip(" .")
    if len(cleaned.encode("utf-8")) > _MAX_NAME_BYTES:
        path = Path(cleaned)
        suffix = path.suffix if len(path.suffix) <= 10 else ""
        room = _MAX_NAME_BYTES - len(suffix.encode("utf-8"))
        stem = cleaned[: len(cleaned) - len(suffix)].encode("utf-8")[:room]
        cleaned = stem.decode("utf-8", errors="ignore").strip(" .") + suffix
    return cleaned if cleaned.strip(" .") else "upload.txt"


def ingest_uploads(
    files: Sequence[tuple[str, bytes]],
    settings: RegressSettings,
    store: Store,
    encoders: DocumentEncoder,
    progress: Progress | None = None,
    groups: Sequence[str] | None = None,
) -> list[FileResult]:
    """Save each (name, content) under `<data_dir>/uploads/` and ingest it; one result per file.

    `groups`: who may see the files (None: what the store records for a re-upload, else
    everyone — as `msrag ingest` without `--groups`)."""
    folder = upload_dir(settings)
    results: list[FileResult] = []
    for done, (name, data) in enumerate(files):
        clean = safe_name(name)
        if progress is not None:
            progress(done, len(files), clean)
        results.append(_ingest_one(folder / clean, data, settings, store, encoders, groups))
    if progress is not None:
        progress(len(files), len(files), "")
    return results


def _ingest_one(
    path: Path,
    data: bytes,
    settings: RegressSettings,
    store: Store,
    encoders: DocumentEncoder,
    groups: Sequence[str] | None = None,
) -> FileResult:
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        kinds = ", ".join(UPLOAD_TYPES)
        return FileResult(path.name, "skipped", reason=f"not a supported file type ({kinds})")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        return FileResult(path.name, "failed", reason=f"could not save it ({exc.strerror or exc})")
    try:
        report = ingest([path], settings, store, encoders, progress=False, groups=groups)
    except RetrievalError as exc:  # the store went away mid-run: say so for this file
        return FileResult(path.name, "failed", reason=str(exc))
    result = report.files[0] if report.files else FileResult(path.name, "failed", reason="not read")
    # Keep a file that could not be ingested out of the uploads folder: it is not in the store.
    if result.status in ("skipped", "failed"):
        path.unlink(missing_ok=True)
    return result
