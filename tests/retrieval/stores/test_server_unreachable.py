"""A Qdrant server that is not there, or comes back: bounded retries, then one sentence.

No Qdrant server runs on this machine (and qdrant-client's local mode cannot go away), so the
server is a real HTTP endpoint on 127.0.0.1 that we control: a listener that drops every
connection (a proxy in front of nothing), and one that drops the first ones and then answers
like Qdrant (`GET /collections/<name>/exists`).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import ResponseHandlingException

from msrag.settings import Settings
from retrieval.errors import StoreUnavailableError
from retrieval.stores import ServerStore
from retrieval.stores.retrying import RetryingClient
from tests.retrieval.stores.conftest import make_layout


class FlakyEndpoint:
    """Accepts connections on 127.0.0.1; drops the first `drop` of them (all if None), then
    answers every request with Qdrant's reply to `collection_exists`."""

    def __init__(self, drop: int | None) -> None:
        self.drop = drop
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> FlakyEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn:
                if self.drop is None or self.connections <= self.drop:
                    continue  # closed without a byte: the client sees the server vanish
                conn.recv(65536)
                body = json.dumps({"result": {"exists": True}, "status": "ok", "time": 0.0})
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}".encode()
                )


@pytest.fixture
def nothing() -> Iterator[FlakyEndpoint]:
    with FlakyEndpoint(drop=None) as endpoint:
        yield endpoint


def settings_for(url: str, **overrides: object) -> Settings:
    return Settings(_env_file=None, qdrant_url=url, **overrides)  # type: ignore[call-arg]


def test_unreachable_at_start_is_retried_then_one_sentence(nothing: FlakyEndpoint) -> None:
    settings = settings_for(nothing.url, qdrant_retries=3, qdrant_backoff_s=0.05)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as err:
        ServerStore.from_settings(settings, make_layout())
    assert nothing.connections == 4  # the first attempt and 3 retries
    assert time.monotonic() - started < 30  # bounded: 0.05 + 0.1 + 0.2 s of backoff
    message = str(err.value)
    assert message.startswith(f"Qdrant at {nothing.url} is unreachable")
    assert "unset QDRANT_URL to use the embedded store" in message and "\n" not in message


def test_no_retries_when_configured_off(nothing: FlakyEndpoint) -> None:
    with pytest.raises(StoreUnavailableError):
        ServerStore.from_settings(settings_for(nothing.url, qdrant_retries=0), make_layout())
    assert nothing.connections == 1


def test_a_server_that_comes_back_is_used_without_an_error() -> None:
    delays: list[float] = []
    with FlakyEndpoint(drop=2) as endpoint:
        client = RetryingClient(
            QdrantClient(url=endpoint.url, check_compatibility=False),
            retries=3,
            backoff_s=0.5,
            sleep=delays.append,  # the schedule, without waiting for it
        )
        assert client.collection_exists("msrag") is True
        assert endpoint.connections == 3
    assert delays == [0.5, 1.0]  # exponential backoff, two failures


def test_backoff_is_capped() -> None:
    with FlakyEndpoint(drop=None) as endpoint:
        delays: list[float] = []
        client = RetryingClient(
            QdrantClient(url=endpoint.url, check_compatibility=False),
            retries=6,
            backoff_s=1.0,
            max_backoff_s=4.0,
            sleep=delays.append,
        )
        with pytest.raises(ResponseHandlingException):  # the client's own, after the retries
            client.collection_exists("msrag")
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


def test_once_down_calls_fail_fast_until_one_succeeds() -> None:
    # A page makes several store calls: only the first waits the whole backoff.
    delays: list[float] = []
    with FlakyEndpoint(drop=5) as endpoint:
        client = RetryingClient(
            QdrantClient(url=endpoint.url, check_compatibility=False),
            retries=3,
            backoff_s=0.5,
            sleep=delays.append,
        )
        with pytest.raises(ResponseHandlingException):
            client.collection_exists("msrag")  # 4 connections dropped, backoff waited
        assert delays == [0.5, 1.0, 2.0] and client.down
        with pytest.raises(ResponseHandlingException):
            client.collection_exists("msrag")  # the 5th: one attempt, no wait
        assert endpoint.connections == 5 and delays == [0.5, 1.0, 2.0]
        assert client.collection_exists("msrag") is True  # the server is back
        assert not client.down  # so the next failure is retried with backoff again
