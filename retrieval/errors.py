"""Exceptions with messages a user can act on. Everything the CLI/UI shows derives from these."""


class RetrievalError(Exception):
    """Base class: the message is a full sentence saying what is wrong and what to do."""


class ModelUnavailableError(RetrievalError):
    """A model could not be loaded (no internet, wrong local directory, missing files)."""


class StoreUnavailableError(RetrievalError):
    """The Qdrant store cannot be reached or opened (server down, wrong key, directory locked)."""


class StoreLockedError(StoreUnavailableError):
    """Another process holds the embedded store's directory."""


class LayoutMismatchError(RetrievalError):
    """The collection was created with a different layout (models, dims, optimizations)."""


class QueryTooLongError(RetrievalError):
    """A question exceeds the configured maximum length."""
