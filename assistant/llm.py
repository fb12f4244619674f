"""The language model: any OpenAI-compatible chat completions server, through the `openai` client.

Retries are ours, not the client's: bounded, with exponential backoff, and only for 429 and 5xx
(a refused connection, a timeout or a bad key will not get better by asking again within the
turn). Every failure becomes one `LLMError` whose message is a sentence saying what is wrong and
what to set; the API key never appears in a message or a log line.

>>> from assistant.settings import AssistantSettings
>>> s = AssistantSettings(OPENAI_BASE_URL="http://127.0.0.1:9/v1", OPENAI_API_KEY="sk-x")
>>> llm = LLMClient(s)
>>> llm.base_url
'http://127.0.0.1:9/v1'
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import openai

from assistant.errors import LLMError
from assistant.settings import AssistantSettings

log = logging.getLogger(__name__)

OPENAI_URL = "https://api.openai.com/v1"
# Local servers (llama.cpp, vLLM, Ollama) ignore the key, but the client insists on one.
_NO_KEY = "not-needed"


class TextDeltas(Protocol):
    """A streamed answer: iterate it once for the text deltas; then `finish_reason` says why it
    ended ('stop', 'length', …)."""

    finish_reason: str | None

    def __iter__(self) -> Iterator[str]: ...


class ChatLLM(Protocol):
    """What the assistant needs from a language model client. `LLMClient` is the real one; the
    regression suite's replaying and recording clients fit it too (mypy checks that they do)."""

    @property
    def model(self) -> str: ...

    @property
    def base_url(self) -> str: ...

    def complete(
        self, messages: Sequence[dict[str, str]], max_tokens: int | None = None
    ) -> str: ...

    def stream(
        self, messages: Sequence[dict[str, str]], max_tokens: int | None = None
    ) -> TextDeltas: ...

    def close(self) -> None: ...


class LLMStream:
    """The text deltas of one streamed completion; iterate it once.

    After iteration, `finish_reason` is the server's ('stop', 'length', …) and `chunks` counts
    the content deltas. Raises `LLMError` (kind 'stream') if the stream breaks after text arrived.
    """

    def __init__(self, client: LLMClient, raw: Any) -> None:
        self._client = client
        self._raw = raw
        self.finish_reason: str | None = None
        self.chunks = 0

    def __iter__(self) -> Iterator[str]:
        try:
            for chunk in self._raw:
                for choice in getattr(chunk, "choices", None) or []:
                    delta = getattr(choice, "delta", None)
                    content = getattr(delta, "content", None) if delta is not None else None
                    if content:
                        self.chunks += 1
                        yield content
                    if choice.finish_reason:
                        self.finish_reason = choice.finish_reason
        except openai.APITimeoutError as exc:
            # `llm_timeout` is httpx's read timeout: the longest silence between two reads.
            if self.chunks:
                raise self._client.stalled() from None
            raise self._client.translate(exc, retries=0) from None
        except openai.APIError as exc:
            if self.chunks:
                raise self._client.broken(exc) from None
            raise self._client.translate(exc, retries=0) from None
        except ValueError:  # an event that is not JSON: the client's SSE decoder gives up
            raise self._client.malformed(partial=bool(self.chunks)) from None
        finally:
            close = getattr(self._raw, "close", None)
            if close is not None:
                close()
        if self.finish_reason is None:
            # OpenAI-compatible servers end every stream with a finish_reason; a stream that
            # just stops was cut (proxy, server crash) and the answer may be incomplete.
            raise self._client.broken(None)


class LLMClient:
    """Chat completions against `settings.openai_base_url` (or OpenAI) with `settings.llm_model`.

        llm = LLMClient(AssistantSettings(OPENAI_BASE_URL="http://127.0.0.1:8080/v1"))
        "".join(llm.stream([{"role": "user", "content": "Say hi"}]))
        # -> 'Hi!'
    """

    def __init__(
        self,
        settings: AssistantSettings,
        *,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
    ) -> None:
        self.settings = settings
        self.model = settings.llm_model
        self._url = settings.openai_base_url or OPENAI_URL
        self._secret = (
            settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        )
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_retries = settings.llm_max_retries
        self._client = openai.OpenAI(
            api_key=self._secret or _NO_KEY,
            base_url=self._url,
            timeout=settings.llm_timeout,
            max_retries=0,  # see the module docstring: we retry 429/5xx only
            # the client would otherwise read these from the environment
            organization=None,
            project=None,
        )

    @property
    def base_url(self) -> str:
        """The server URL as shown to users: no credentials, no query string."""
        parts = urlsplit(self._url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))

    def close(self) -> None:
        """Close the HTTP connections now rather than whenever the client is collected."""
        self._client.close()

    # --- calls ---------------------------------------------------------------------------

    def complete(self, messages: Sequence[dict[str, str]], max_tokens: int | None = None) -> str:
        """One non-streamed completion (used to condense follow-up questions)."""
        response = self._with_retries(messages, max_tokens, stream=False)
        try:
            return response.choices[0].message.content or ""
        except (AttributeError, IndexError, TypeError):
            raise LLMError(
                "protocol",
                f"The language model server at {self.base_url} sent a reply without a message: "
                f"check that OPENAI_BASE_URL points to an OpenAI-compatible chat server.",
            ) from None

    def stream(
        self, messages: Sequence[dict[str, str]], max_tokens: int | None = None
    ) -> LLMStream:
        """A streamed completion; the request is sent (and retried) before this returns."""
        return LLMStream(self, self._with_retries(messages, max_tokens, stream=True))

    def models(self) -> list[str]:
        """The model ids the server lists (empty if it cannot list them)."""
        try:
            return sorted(m.id for m in self._client.models.list())
        except (openai.APIError, openai.OpenAIError):
            return []

    def _with_retries(
        self, messages: Sequence[dict[str, str]], max_tokens: int | None, stream: bool
    ) -> Any:
        attempt = 0
        while True:
            try:
                return self._client.chat.completions.create(
                    model=self.model,
                    messages=list(messages),  # type: ignore[arg-type]
                    temperature=self.settings.llm_temperature,
                    max_tokens=max_tokens or self.settings.llm_answer_tokens,
                    stream=stream,
                )
            except openai.APIStatusError as exc:
                if not _retryable(exc.status_code) or attempt >= self.max_retries:
                    raise self.translate(exc, retries=attempt) from None
                delay = self._delay(attempt, exc)
                log.warning(
                    "language model answered HTTP %s; retry %d of %d in %.2f s",
                    exc.status_code,
                    attempt + 1,
                    self.max_retries,
                    delay,
                )
                time.sleep(delay)
                attempt += 1
            except openai.APIError as exc:
                raise self.translate(exc, retries=attempt) from None

    def _delay(self, attempt: int, exc: openai.APIStatusError) -> float:
        delay = self.backoff_s * (2**attempt)
        retry_after = exc.response.headers.get("retry-after") if exc.response else None
        try:
            if retry_after is not None:
                delay = max(delay, float(retry_after))
        except ValueError:
            pass  # an HTTP date: keep our own backoff
        return float(min(delay, self.max_backoff_s))

    # --- errors --------------------------------------------------------------------------

    def translate(self, exc: openai.APIError, retries: int) -> LLMError:
        """One sentence per failure, saying what is wrong and what to set."""
        url, model = self.base_url, self.model
        tried = f" after {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""
        if isinstance(exc, openai.APITimeoutError):
            kind, msg = (
                "timeout",
                (
                    f"The language model at {url} did not answer within "
                    f"{self.settings.llm_timeout:g} s: try again, or raise MSRAG_LLM_TIMEOUT."
                ),
            )
        elif isinstance(exc, openai.APIConnectionError):
            kind, msg = (
                "connection",
                (
                    f"Cannot connect to the language model server at {url}: start it, or set "
                    f"OPENAI_BASE_URL to a running OpenAI-compatible server (unset OPENAI_BASE_URL "
                    f"and OPENAI_API_KEY to get extractive answers without a model)."
                ),
            )
        elif isinstance(exc, openai.AuthenticationError):
            # the server's own message may echo part of the key: never pass it on
            kind, msg = (
                "auth",
                (
                    f"The language model server at {url} rejected the API key (HTTP 401): set "
                    f"OPENAI_API_KEY to a valid key for this server."
                ),
            )
        elif isinstance(exc, openai.PermissionDeniedError):
            kind, msg = (
                "permission",
                (
                    f"The API key is not allowed to use model '{model}' at {url} (HTTP 403): use "
                    f"a key with access to it, or set MSRAG_LLM_MODEL to a model you may use."
                ),
            )
        elif isinstance(exc, openai.NotFoundError):
            kind, msg = self._not_found(exc)
        elif isinstance(exc, openai.RateLimitError):
            kind, msg = (
                "rate_limit",
                (
                    f"The language model server at {url} is rate-limiting requests (HTTP 429)"
                    f"{tried}: wait a moment and ask again, or check the account's quota."
                ),
            )
        elif isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
            kind, msg = (
                "server",
                (
                    f"The language model server at {url} failed with HTTP {exc.status_code}"
                    f"{tried}: try again later, or set OPENAI_BASE_URL to another server."
                ),
            )
        elif isinstance(exc, openai.APIStatusError):
            detail = _server_message(exc)
            kind, msg = (
                "bad_request",
                (
                    f"The language model server at {url} rejected the request (HTTP "
                    f"{exc.status_code}{': ' + detail if detail else ''}): if the prompt is too "
                    f"long for the model, lower MSRAG_LLM_CONTEXT_WINDOW."
                ),
            )
        else:
            kind, msg = (
                "protocol",
                (
                    f"The language model server at {url} sent a reply the client could not read: "
                    f"check that OPENAI_BASE_URL points to an OpenAI-compatible chat server."
                ),
            )
        return LLMError(kind, self._redact(msg))

    def broken(self, exc: openai.APIError | None) -> LLMError:
        return LLMError(
            "stream",
            f"The connection to the language model at {self.base_url} broke in the middle of the "
            f"answer: the partial answer is kept; ask again for a complete one.",
        )

    def stalled(self) -> LLMError:
        return LLMError(
            "stream",
            f"The language model at {self.base_url} sent nothing for "
            f"{self.settings.llm_timeout:g} s in the middle of the answer: the partial answer is "
            f"kept; ask again, or raise MSRAG_LLM_TIMEOUT if the server is just slow.",
        )

    def malformed(self, *, partial: bool) -> LLMError:
        kept = "the partial answer is kept" if partial else "no answer arrived"
        return LLMError(
            "stream" if partial else "protocol",
            f"The language model server at {self.base_url} sent a malformed stream event: "
            f"{kept}; ask again, and check that OPENAI_BASE_URL points to an OpenAI-compatible "
            f"chat server.",
        )

    def _not_found(self, exc: openai.NotFoundError) -> tuple[str, str]:
        url, model = self.base_url, self.model
        body = exc.body if isinstance(exc.body, dict) else {}
        code = str(body.get("code") or (body.get("error") or {}).get("code") or "")
        if "model" in code or "model" in str(exc.message).lower():
            available = self.models()
            hint = f" (it serves: {', '.join(available[:8])})" if available else ""
            return "model", (
                f"The model '{model}' does not exist at {url} (HTTP 404): set MSRAG_LLM_MODEL to "
                f"a model this server serves{hint}."
            )
        return "endpoint", (
            f"The server at {url} has no chat completions endpoint (HTTP 404): check "
            f"OPENAI_BASE_URL (OpenAI-compatible servers usually end in /v1)."
        )

    def _redact(self, text: str) -> str:
        if self._secret and len(self._secret) >= 4:
            text = text.replace(self._secret, "***")
        return text


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    message = body.get("message") or (body.get("error") or {}).get("message") or ""
    message = " ".join(str(message).split())
    return message[:200].rstrip(".")
