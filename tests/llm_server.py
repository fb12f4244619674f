"""A scripted OpenAI-compatible HTTP server for tests and benchmarks.

It speaks real HTTP/1.1 on 127.0.0.1 — `/v1/chat/completions` with and without `stream: true`
(server-sent events, `data: …` lines, `data: [DONE]`, chunked transfer encoding) and
`/v1/models` — so the `openai` client under test does its real work. Replies come from a script
(a queue of steps) and, when the queue is empty, from a default responder.

>>> with ScriptedLLM() as server:
...     server.script(Reply("Ada was born in 1815 [1]."), Fault(500), Reply("ok"))
...     server.url.startswith("http://127.0.0.1:")
True

Steps:
- `Reply(text, chunks=None)`: a normal answer; streamed as `chunks` (default: word by word).
- `Fault(status, message=…, code=…, retry_after=…)`: an OpenAI-style error response.
- `Hang(seconds)`: send nothing for `seconds` (the client's timeout fires), then reply.
- `Break(text, after=n)`: stream `n` chunks, then drop the connection mid-body.
- `Cut(text, after=n)`: stream `n` chunks, then end the body cleanly without a finish_reason
  or `[DONE]` (a proxy that cut the stream).
- `Stall(text, after=n, seconds=s)`: stream `n` chunks, then send nothing for `s` seconds with
  the connection open (a server that hangs mid-answer), then close it.
- `Malformed(text, after=n, event=…)`: stream `n` chunks, then one event that is not valid SSE
  JSON, then the rest of the answer as usual.

Faults that are not scripted: requests for a model not in `models` get a 404
`model_not_found`; with `api_key=` set, requests without `Authorization: Bearer <key>` get a 401
whose message echoes part of the key (as OpenAI's does) — so tests can check we never repeat it.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    text: str
    chunks: tuple[str, ...] | None = None
    finish_reason: str = "stop"

    def pieces(self) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        words = self.text.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]


@dataclass(frozen=True)
class Fault:
    status: int
    message: str = "scripted failure"
    code: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class Hang:
    seconds: float
    then: Reply = field(default_factory=lambda: Reply("too late"))


@dataclass(frozen=True)
class Break:
    text: str
    after: int = 2
    chunks: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Cut:
    text: str
    after: int = 2
    chunks: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Stall:
    text: str
    after: int = 2
    seconds: float = 30.0


@dataclass(frozen=True)
class Malformed:
    text: str
    after: int = 2
    event: bytes = b'data: {"choices": [{"delta": {"content": "oops"\n\n'


Step = Reply | Fault | Hang | Break | Cut | Stall | Malformed


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


class ScriptedLLM:
    """The server; start with `with ScriptedLLM() as s:` or `start()`/`stop()`."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: Iterable[str] = ("test-model",),
        default: Callable[[dict[str, Any]], Step] | None = None,
    ) -> None:
        self.api_key = api_key
        self.models = list(models)
        self.default = default or (lambda body: Reply("Scripted answer [1]."))
        self.requests: list[Recorded] = []
        self._steps: deque[Step] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> ScriptedLLM:
        handler = type("Handler", (_Handler,), {"server_state": self})
        self._httpd = _QuietServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases hanging handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "start the server first"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # --- scripting -------------------------------------------------------------------------

    def script(self, *steps: Step) -> None:
        with self._lock:
            self._steps.extend(steps)

    def _next(self, body: dict[str, Any]) -> Step:
        with self._lock:
            if self._steps:
                return self._steps.popleft()
        return self.default(body)

    @property
    def pending(self) -> int:
        return len(self._steps)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of every chat completion request, in order."""
        return [r.body for r in self.requests if r.path.endswith("/chat/completions") and r.body]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients drop keep-alive connections (and tests break streams on purpose): not news.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: ScriptedLLM

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    # --- routing ---------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._record(None)
        if not self._authorised():
            return
        if self.path.rstrip("/").endswith("/models"):
            data = [{"id": m, "object": "model", "owned_by": "tests"} for m in self.state.models]
            self._json(200, {"object": "list", "data": data})
        else:
            self._error(404, "Not found", code="not_found")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {}
        self._record(body)
        if not self._authorised():
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._error(404, "Not found", code="not_found")
            return
        model = body.get("model")
        if model not in self.state.models:
            self._error(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
            return
        self._respond(self.state._next(body), body)

    @property
    def state(self) -> ScriptedLLM:
        return self.server_state

    def _record(self, body: dict[str, Any] | None) -> None:
        self.state.requests.append(
            Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )

    def _authorised(self) -> bool:
        key = self.state.api_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        sent = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        # like OpenAI, echo a masked version of the key that was sent
        masked = sent[:6] + "*" * 8 + sent[-4:] if len(sent) > 10 else sent
        self._error(401, f"Incorrect API key provided: {masked}.", code="invalid_api_key")
        return False

    # --- responses -------------------------------------------------------------------------

    def _respond(self, step: Step, body: dict[str, Any]) -> None:
        model = body.get("model", "")
        stream = bool(body.get("stream"))
        if isinstance(step, Fault):
            headers = (
                {"Retry-After": f"{step.retry_after:g}"} if step.retry_after is not None else {}
            )
            self._error(step.status, step.message, code=step.code, headers=headers)
        elif isinstance(step, Hang):
            if self.state._stopping.wait(step.seconds):
                return
            self._respond(step.then, body)
        elif isinstance(step, Stall):
            self._start_stream()
            for piece in Reply(step.text).pieces()[: step.after]:
                self._event(_chunk(model, piece, None))
            self.state._stopping.wait(step.seconds)
            self.close_connection = True
        elif isinstance(step, Malformed):
            pieces = Reply(step.text).pieces()
            self._start_stream()
            for piece in pieces[: step.after]:
                self._event(_chunk(model, piece, None))
            self._chunk(step.event)
            for piece in pieces[step.after :]:
                self._event(_chunk(model, piece, None))
            self._event(_chunk(model, None, "stop"))
            self._chunk(b"data: [DONE]\n\n")
            self._end_chunked()
        elif isinstance(step, (Break, Cut)):
            pieces = list(step.chunks) if step.chunks else Reply(step.text).pieces()
            self._start_stream()
            for piece in pieces[: step.after]:
                self._event(_chunk(model, piece, None))
            if isinstance(step, Cut):
                self._end_chunked()
                return
            # announce a chunk and die halfway through it: the client sees a broken body
            self.wfile.write(b'400\r\ndata: {"choices"')
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif stream:
            self._start_stream()
            for piece in step.pieces():
                self._event(_chunk(model, piece, None))
            self._event(_chunk(model, None, step.finish_reason))
            # [DONE] and the end of the body in one write: a client that stops reading at
            # [DONE] still finds the body complete and can reuse the connection
            done = b"data: [DONE]\n\n"
            self._write(f"{len(done):x}\r\n".encode() + done + b"\r\n0\r\n\r\n")
        else:
            self._json(
                200,
                {
                    "id": "chatcmpl-scripted",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": step.text},
                            "finish_reason": step.finish_reason,
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                },
            )

    def _json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self._write(data)

    def _error(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        kind = "invalid_request_error" if status < 500 else "server_error"
        self._json(status, {"error": {"message": message, "type": kind, "code": code}}, headers)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _event(self, payload: dict[str, Any]) -> None:
        self._chunk(f"data: {json.dumps(payload)}\n\n".encode())

    def _chunk(self, data: bytes) -> None:
        self._write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def _end_chunked(self) -> None:
        self._write(b"0\r\n\r\n")

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its timeout fired)


def _chunk(model: str, content: str | None, finish_reason: str | None) -> dict[str, Any]:
    delta = {"role": "assistant", "content": content} if content is not None else {}
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
