"""The one admin service: every change to the library — upload, delete, re-ingest, grant, revoke.

The Documents page, the sidebar's library and `msrag docs`/`msrag ingest` all call it, so the
rules live here once: each method takes the caller (`teams.identity.User`), checks they may make
the change (admins only today) before anything is read or written, does it through the unchecked
store-level API below (`retrieval.ingest.library`, `retrieval.ingest.pipeline`,
`teams.permissions`) and writes the audit entry (`teams.audit`). A refused caller gets
`NotAllowedError`, the library is left as it was, and the refusal is recorded (`denied`).

No change is made unrecorded (fail closed): before changing anything the service checks that the
audit log can be written (`AuditLog.require_writable`) and refuses with `AuditUnavailableError`
when it cannot; the entry itself is written with `strict=True`, so a log that fails between the
check and the entry surfaces as that error too (the change is then made but the caller is told
it is not recorded).

    admin = Admin(store, encoders, settings, AuditLog.from_settings(settings))
    admin.grant(alice, "docs/hr/bands.md", "legal")  # -> ('hr', 'legal'); audited as 'grant'
    admin.delete(bob, "docs/hr/bands.md")  # NotAllowedError: bob is not an admin …

On the command line the caller is the local operator, an admin named `cli:<account>`
(`msrag.console.operator_name`): whoever can run `msrag` owns the store's files anyway.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from retrieval.access import group_names
from retrieval.errors import RetrievalError
from retrieval.ingest.library import delete_document
from retrieval.ingest.library import reingest as reingest_document
from retrieval.ingest.loaders import SUPPORTED_SUFFIXES, doc_id_for
from retrieval.ingest.pipeline import DocumentEncoder, FileResult, IngestReport, ingest
from retrieval.stores.base import Store
from teams.audit import Action, AuditLog
from teams.errors import LastGroupError, NotAllowedError, TeamError
from teams.identity import User
from teams.permissions import change_groups, document_groups
from teams.settings import TeamSettings

# What an upload may be (the loaders' types, without the dot).
UPLOAD_TYPES: tuple[str, ...] = tuple(sorted(s.lstrip(".") for s in SUPPORTED_SUFFIXES))
_UNSAFE = re.compile(r"[^\w.\- ]+", re.UNICODE)
_MAX_NAME_BYTES = 200  # file systems allow 255; room left for a temporary suffix

Progress = Callable[[int, int, str], None]  # (files done, files in total, current file name)
Groups = Iterable[str] | str  # names, or one comma-separated string ("hr, legal")


def upload_dir(settings: TeamSettings) -> Path:
    """Where uploaded files are kept: the store cites them by this path."""
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


class Admin:
    """Changes to the library, each checked against the caller's rights and audited."""

    def __init__(
        self, store: Store, encoders: DocumentEncoder, settings: TeamSettings, audit: AuditLog
    ) -> None:
        self.store = store
        self.encoders = encoders
        self.settings = settings
        self.audit = audit

    # --- rights ----------------------------------------------------------------------------

    def allows(self, user: User) -> bool:
        """Whether `user` may change the library (today: admins only)."""
        return user.admin

    def _check(self, user: User, doing: str) -> None:
        """Admins only, and only with a writable audit log; a refusal is recorded as 'denied'."""
        if not self.allows(user):
            self.audit.record(
                user.name,
                "denied",
                f"{doing}: not an admin",
                groups=user.groups,
            )
            raise NotAllowedError(
                f"{user.name} is not an admin, so may not {doing}: only members of the `admins` "
                "group (MSRAG_GROUPS_FILE) may change the library."
            )
        self.audit.require_writable()

    # --- adding documents ------------------------------------------------------------------

    def upload(
        self,
        user: User,
        files: Sequence[tuple[str, bytes]],
        *,
        groups: Groups | None = None,
        public: bool = False,
        progress: Progress | None = None,
    ) -> list[FileResult]:
        """Save each (name, content) under `<data_dir>/uploads/` and ingest it, file by file;
        one result per file (a bad file never stops the others). Audited: 'upload' per file
        ingested, and per re-uploaded unchanged file whose groups changed (the entry carries the
        groups the file has now).

        `groups`: who may see the files. None or empty means *no groups given*: a re-upload
        (changed or not) keeps the groups the store records, a new file is for everyone — as
        `msrag ingest` without `--groups`. Only `public=True` makes a restricted file public
        (with no `groups`). A bad group name raises before any file is saved."""
        self._check(user, "upload files")
        wanted = _wanted(groups, public)
        folder = upload_dir(self.settings)
        results: list[FileResult] = []
        for done, (name, data) in enumerate(files):
            clean = safe_name(name)
            if progress is not None:
                progress(done, len(files), clean)
            result = self._ingest_upload(folder / clean, data, wanted, public)
            if result.status == "ingested" or result.regrouped:
                self._record(user, "upload", result.path, result.groups)
            results.append(result)
        if progress is not None:
            progress(len(files), len(files), "")
        return results

    def ingest(
        self,
        user: User,
        paths: Iterable[Path | str],
        *,
        groups: Groups | None = None,
        public: bool = False,
        prune: bool = False,
        progress: bool = True,
    ) -> IngestReport:
        """Ingest files and folders already on disk, as `msrag ingest` does
        (`retrieval.ingest.pipeline.ingest`; `groups`/`public` as for `upload`). Audited:
        'upload' per file ingested and per unchanged file whose groups changed (the entry
        carries its groups now), 'delete' per file pruned."""
        self._check(user, "ingest files")
        wanted = _wanted(groups, public)
        report = ingest(
            paths,
            self.settings,
            self.store,
            self.encoders,
            prune=prune,
            progress=progress,
            groups=wanted,
            public=public,
        )
        for result in report.files:
            if result.status == "ingested" or result.regrouped:
                self._record(user, "upload", result.path, result.groups)
            elif result.status == "pruned":
                self._record(user, "delete", result.path, result.groups)
        return report

    # --- one stored document ---------------------------------------------------------------

    def delete(self, user: User, source: str) -> int:
        """Remove every chunk of `source`; returns how many there were (`UnknownDocumentError`
        when none). Audited: 'delete'."""
        self._check(user, f"delete {source}")
        removed = delete_document(self.store, source)
        self._record(user, "delete", source)
        return removed

    def reingest(self, user: User, source: str, cwd: Path | None = None) -> FileResult:
        """Read `source`'s file again (from `cwd`, default the working directory) and store it
        as ingest does; an unchanged file is left as it is. Audited: 'reingest', whatever the
        outcome (the entry's groups are the document's)."""
        self._check(user, f"re-ingest {source}")
        result = reingest_document(self.store, source, self.settings, self.encoders, cwd)
        self._record(user, "reingest", source, result.groups)
        return result

    def grant(self, user: User, source: str, groups: Groups) -> tuple[str, ...]:
        """Let `groups` see `source` too; returns its groups now. Audited: 'grant'."""
        return self._change_groups(user, source, groups, grant=True)

    def revoke(
        self, user: User, source: str, groups: Groups, *, public: bool = False
    ) -> tuple[str, ...]:
        """Stop `groups` from seeing `source`; returns its groups now (none: everyone).
        Revoking its last group makes it public, so that needs `public=True`
        (`LastGroupError` otherwise, nothing changed). Audited: 'revoke'."""
        return self._change_groups(user, source, groups, grant=False, public=public)

    # --- helpers ---------------------------------------------------------------------------

    def _change_groups(
        self, user: User, source: str, groups: Groups, *, grant: bool, public: bool = False
    ) -> tuple[str, ...]:
        action: Action = "grant" if grant else "revoke"
        self._check(user, f"{action} groups on {source}")
        names = group_names(groups)
        if not grant and not public:
            current = document_groups(self.store, source)
            if current and not set(current) - set(names):
                raise LastGroupError(
                    f"Revoking {', '.join(current)} leaves {source} with no group, which makes "
                    "it public: confirm with --public (the UI asks first)."
                )
        now = change_groups(self.store, source, names, grant=grant)
        self._record(user, action, source, now)
        return now

    def _record(
        self, user: User, action: Action, source: str, groups: Sequence[str] | None = None
    ) -> None:
        """One audit entry: who, what, which document, and its groups (None: not about them)."""
        self.audit.record(
            user.name, action, source, doc_ids=[doc_id_for(source)], groups=groups, strict=True
        )

    def _ingest_upload(
        self, path: Path, data: bytes, groups: tuple[str, ...] | None, public: bool
    ) -> FileResult:
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            kinds = ", ".join(UPLOAD_TYPES)
            return FileResult(path.name, "skipped", reason=f"not a supported file type ({kinds})")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        except OSError as exc:
            reason = f"could not save it ({exc.strerror or exc})"
            return FileResult(path.name, "failed", reason=reason)
        try:
            report = ingest(
                [path],
                self.settings,
                self.store,
                self.encoders,
                progress=False,
                groups=groups,
                public=public,
            )
        except RetrievalError as exc:  # the store went away mid-run: say so for this file
            return FileResult(path.name, "failed", reason=str(exc))
        result = (
            report.files[0] if report.files else FileResult(path.name, "failed", reason="not read")
        )
        # Keep a file that could not be ingested out of the uploads folder: it is not in the store.
        if result.status in ("skipped", "failed"):
            path.unlink(missing_ok=True)
        return result


def _wanted(groups: Groups | None, public: bool) -> tuple[str, ...] | None:
    """The groups asked for (None: none given — empty counts as none); `public` excludes them."""
    wanted = None if groups is None else group_names(groups)
    if public and wanted:
        raise TeamError("Give groups or public, not both: public means everyone.")
    return wanted or None
