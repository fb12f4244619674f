"""The product's errors: each message is one sentence saying what is wrong and what to do.

`MsragError` is the one base; each layer derives its own (`RetrievalError` here,
`AssistantError` in `assistant/`, `RegressError` in `regress/`). The CLI and the UI turn only
these into sentences and exit codes; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

# One exit-code table for every command (docs/reference/exit-codes.md).
EXIT_OK = 0
EXIT_PARTIAL = 1  # the command ran, but part of it failed: a file, a check, an answer cut short
EXIT_USAGE = 2  # bad input or configuration: fix the command line or the settings
EXIT_UPSTREAM = 3  # a service we depend on failed: the LLM, the Qdrant server, the store
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as a shell reports it)


class MsragError(Exception):
    """Base of every error raised on purpose; `exit_code` says which row of the table it is."""

    exit_code: int = EXIT_USAGE


class UpstreamError(MsragError):
    """A service the product depends on failed or is unreachable (retrying later may work)."""

    exit_code = EXIT_UPSTREAM


class RetrievalError(MsragError):
    """Base of the retrieval layer's errors."""


class InvalidArgumentError(RetrievalError, ValueError):
    """An argument or setting is out of range (still a `ValueError`, as callers expect)."""


class UnknownDocumentError(InvalidArgumentError):
    """No stored document has the source named."""


class ModelUnavailableError(RetrievalError):
    """A model could not be loaded (no internet, wrong local directory, missing files)."""


class StoreUnavailableError(RetrievalError, UpstreamError):
    """The Qdrant store cannot be reached or opened (server down, wrong key, directory locked)."""

    exit_code = EXIT_UPSTREAM


class StoreLockedError(StoreUnavailableError):
    """Another process holds the embedded store's directory."""


class StoreFullError(StoreUnavailableError):
    """The disk holding the embedded store is (nearly) full: it was not written."""


class StoreCorruptError(StoreUnavailableError):
    """The embedded store's files are damaged: it is not used, so it never gives wrong results."""


class LayoutMismatchError(RetrievalError):
    """The collection was created with a different layout (models, dims, optimizations)."""


class QueryTooLongError(RetrievalError, ValueError):
    """A question exceeds the configured maximum length."""


class EmptyQueryError(RetrievalError, ValueError):
    """A query has no text to search for (empty or only whitespace)."""
