"""Changing who may see a stored document: grant and revoke its access groups.

A payload update of the document's chunks on either store (`Store.set_groups`); nothing is
re-encoded. The rules for groups themselves are in `retrieval/access.py`.

These are store-level and unchecked: they neither ask who is calling nor write the audit log.
Grant and revoke for a caller go through the admin service (`teams/admin.py`), which does both.

    change_groups(store, "docs/hr/bands.md", ["legal"], grant=True)  # -> ('hr', 'legal')
"""

from __future__ import annotations

from collections.abc import Iterable

from retrieval.access import GROUPS_FIELD, group_names, payload_groups
from retrieval.errors import UnknownDocumentError
from retrieval.stores.base import Store
from retrieval.types import Filter


def document_groups(store: Store, source: str) -> tuple[str, ...]:
    """The groups that may see the document `source` (empty: everyone)."""
    found: set[str] = set()
    seen = False
    for _, payload in store.scroll_payloads([GROUPS_FIELD], Filter(must={"source": source})):
        seen = True
        stored = payload.get(GROUPS_FIELD)
        found.update(payload_groups(stored))
    if not seen:
        shown = source if len(source) <= 80 else source[:80] + "…"
        raise UnknownDocumentError(
            f"No stored document has the source {shown!r}: use the source exactly as "
            "`msrag search` or `msrag status` shows it."
        )
    return tuple(sorted(found))


def change_groups(
    store: Store, source: str, groups: Iterable[str], *, grant: bool
) -> tuple[str, ...]:
    """Grant (add) or revoke (remove) `groups` on one document; returns its groups now.

    Only the `groups` payload of its chunks changes: nothing is re-encoded.
    """
    current = set(document_groups(store, source))
    names = set(group_names(list(groups)))
    now = tuple(sorted(current | names if grant else current - names))
    store.set_groups(Filter(must={"source": source}), now)
    return now
