"""`RetryingClient`: a qdrant-client whose calls are retried, with backoff, while the server is
unreachable or answers 502/503/504 (restarting, behind a proxy, a node failing over).

Every call we make is idempotent (reads, upserts by id, deletes and payload updates by filter),
so repeating one is safe. The wait is bounded: `retries` retries, `backoff_s` doubling up to
`max_backoff_s`, each attempt bounded by the client's own timeout; then the last error goes up
and `ServerStore` turns it into one sentence.

Once a call has used up its retries the server counts as down: later calls try once, without
waiting, until one succeeds. One page of the UI makes several store calls; without this each
would wait the whole backoff again (10.9 s instead of 3.5 s measured in
tests/ui/test_server_outage.py), and the first call that succeeds restores the retries.

    client = RetryingClient(QdrantClient(url="http://localhost:6333"), retries=3, backoff_s=0.5)
    client.collection_exists("msrag")  # up to 4 attempts over ~3.5 s of waiting
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

log = logging.getLogger(__name__)

_TRANSIENT_STATUS = (502, 503, 504)


class RetryingClient:
    """Delegates to `client`; its methods retry transient failures (attributes pass through)."""

    def __init__(
        self,
        client: QdrantClient,
        *,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep
        self.down = False  # a call used up its retries; no call has succeeded since

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name in ("close",):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            attempt = 0
            retries = 0 if self.down else self.retries
            while True:
                try:
                    result = attribute(*args, **kwargs)
                    self.down = False
                    return result
                except (ResponseHandlingException, UnexpectedResponse) as exc:
                    if not _transient(exc):
                        raise
                    if attempt >= retries:
                        self.down = True
                        raise
                    delay = min(self.backoff_s * 2**attempt, self.max_backoff_s)
                    log.warning(
                        "Qdrant %s failed (%s); retry %d of %d in %.2f s",
                        name,
                        exc,
                        attempt + 1,
                        retries,
                        delay,
                    )
                    self._sleep(delay)
                    attempt += 1

        return call


def _transient(exc: Exception) -> bool:
    if isinstance(exc, UnexpectedResponse):
        return exc.status_code in _TRANSIENT_STATUS
    return True  # could not connect, or timed out
