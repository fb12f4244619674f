"""Files uploaded in the browser: what the widget accepts and where the files go.

The Documents page hands the uploaded (name, content) pairs to the admin service
(`teams.admin.Admin.upload`), which checks the user may add documents, saves each file under
`<data_dir>/uploads/` with a safe name, ingests it file by file (so the page moves its progress
bar per file and a bad file never stops the others) and writes the audit entry. Uploads are kept
because the store cites them by path; re-uploading a changed file replaces its chunks as
`msrag ingest` does.

    results = engine.admin.upload(user, [("notes.md", b"# Notes\\nhello")], groups="hr")
    results[0].status, results[0].chunks
    # -> ('ingested', 1)
"""

from __future__ import annotations

from teams.admin import UPLOAD_TYPES, Progress, safe_name, upload_dir

__all__ = ["UPLOAD_TYPES", "Progress", "safe_name", "upload_dir"]
