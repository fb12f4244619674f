"""Who is asking, what they may see, and where the team's records are kept."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from retrieval.ingest.settings import IngestSettings


class TeamSettings(IngestSettings):
    """Sign-in, groups and the history database, on top of the write path's settings."""

    auth: Literal["none", "header", "oidc"] = Field(
        "none",
        description="none: one local user who sees everything; header: a reverse proxy signs "
        "users in and passes AUTH_HEADER; oidc: Streamlit's st.login.",
    )
    auth_header: str = Field(
        "X-Forwarded-Email", min_length=1, description="The trusted proxy's user header."
    )
    groups_file: Path | None = Field(
        None, description="YAML: user or email pattern → groups (`admins` is special).",
        examples=["groups.yaml"],
    )
    trusted_proxy: bool = Field(
        False,
        description="Allow header mode on a non-loopback address: only a proxy can reach it.",
    )
    conversations_db: Path | None = Field(
        None,
        description="SQLite file of saved conversations, feedback and the audit log "
        "(default: <data_dir>/conversations.db).",
    )

    @property
    def conversations_path(self) -> Path:
        """The history database: conversations, feedback and the audit log."""
        return self.conversations_db or self.data_dir / "conversations.db"
