"""Cassettes: recorded language-model answers, so a regression suite runs offline and repeatably.

A cassette is a JSON file holding, per case id, every chat request the assistant made while the
case ran (condensing a follow-up, answering) and the text the model sent back. A request is
identified by a hash of the model name and the exact messages, so a changed prompt, a different
retrieval or another model never replays a stale answer: it is a miss, reported with the case id
and what to run — never a live call.

>>> cassette = Cassette.empty("demo.cassette.json")
>>> recorder = RecordingLLM(_FixedLLM("Ada was born in 1815 [1]."), cassette, "ada-born")
>>> recorder.complete([{"role": "user", "content": "When?"}])
'Ada was born in 1815 [1].'
>>> replay = ReplayLLM(cassette, "ada-born", model="m")
>>> "".join(replay.stream([{"role": "user", "content": "When?"}]))
'Ada was born in 1815 [1].'
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import LLMError
from assistant.llm import ChatLLM
from regress.errors import CassetteError

FORMAT_VERSION = 1
MISS_KIND = "replay_miss"


class CassetteMiss(LLMError):
    """Replay found no recorded answer for a request of case `case_id`.

    An `LLMError` (kind 'replay_miss'), so the assistant ends the turn the way it does for any
    model failure: the prompt and retrieval of the case are still there to compare.
    """

    def __init__(self, case_id: str, message: str) -> None:
        super().__init__(MISS_KIND, message)
        self.case_id = case_id


def request_key(model: str, messages: Sequence[dict[str, str]]) -> str:
    """'sha256:…' of the model and the exact messages (role and content, in order)."""
    canonical = json.dumps(
        {
            "model": model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        },
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class Interaction:
    """One request and the model's reply. `call` is 'complete' or 'stream'."""

    key: str
    model: str
    call: str
    messages: list[dict[str, str]]
    response: str
    finish_reason: str = "stop"


@dataclass
class Cassette:
    """Recorded interactions per case id; `save()` writes stable, reviewable JSON."""

    path: Path
    cases: dict[str, list[Interaction]] = field(default_factory=dict)
    # position of the next use per (case, key): a case may send the same request twice
    _cursor: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)

    @classmethod
    def empty(cls, path: Path | str) -> Cassette:
        return cls(Path(path))

    @classmethod
    def load(cls, path: Path | str) -> Cassette:
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CassetteError(
                f"The cassette {path} does not exist: record it with `msrag regress <cases> "
                f"--llm live --record` against a configured model, or run with `--llm off` to "
                f"check extractive answers without a model."
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CassetteError(
                f"The cassette {path} cannot be read ({exc}): re-record it with `--llm live "
                f"--record`, or restore it from version control."
            ) from None
        if not isinstance(raw, dict) or raw.get("version") != FORMAT_VERSION:
            raise CassetteError(
                f"The cassette {path} is not a version-{FORMAT_VERSION} cassette: re-record it "
                f"with `--llm live --record`."
            )
        try:
            cases = {
                case_id: [Interaction(**item) for item in items]
                for case_id, items in raw.get("cases", {}).items()
            }
        except TypeError as exc:
            raise CassetteError(f"The cassette {path} has a malformed entry ({exc}).") from None
        return cls(path, cases)

    @classmethod
    def load_or_empty(cls, path: Path | str) -> Cassette:
        return cls.load(path) if Path(path).exists() else cls.empty(path)

    def save(self) -> None:
        data = {
            "version": FORMAT_VERSION,
            "cases": {
                case_id: [asdict(i) for i in items] for case_id, items in sorted(self.cases.items())
            },
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(
            json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )

    # --- recording -----------------------------------------------------------------------

    def start_recording(self, case_id: str) -> None:
        """Forget the case's old interactions: a recording replaces them all."""
        self.cases[case_id] = []

    def record(self, case_id: str, interaction: Interaction) -> None:
        self.cases.setdefault(case_id, []).append(interaction)

    # --- replay --------------------------------------------------------------------------

    def find(self, case_id: str, model: str, messages: Sequence[dict[str, str]]) -> Interaction:
        key = request_key(model, messages)
        recorded = self.cases.get(case_id)
        if not recorded:
            raise CassetteMiss(
                case_id,
                f"Case '{case_id}' has no recording in the cassette {self.path}: record it with "
                f"`msrag regress <cases> --llm live --record` (replay never calls the model).",
            )
        matches = [i for i in recorded if i.key == key]
        if matches:
            used = self._cursor.get((case_id, key), 0)
            self._cursor[(case_id, key)] = used + 1
            return matches[min(used, len(matches) - 1)]
        raise CassetteMiss(case_id, self._miss_message(case_id, model, messages, recorded))

    def _miss_message(
        self,
        case_id: str,
        model: str,
        messages: Sequence[dict[str, str]],
        recorded: list[Interaction],
    ) -> str:
        same_model = [i for i in recorded if i.model == model]
        if not same_model:
            models = ", ".join(sorted({i.model for i in recorded}))
            why = f"it was recorded with model {models}, this run uses {model}"
        else:
            # the nearest recording by prompt text says what moved
            now = _flatten(messages)
            best = max(
                same_model,
                key=lambda i: difflib.SequenceMatcher(None, _flatten(i.messages), now).ratio(),
            )
            first = _first_difference(_flatten(best.messages), now)
            why = f"the request changed since it was recorded (first difference: {first})"
        return (
            f"Case '{case_id}' sent a request the cassette {self.path} has no answer for: {why}. "
            f"Review the prompt/retrieval diffs, then re-record with `--llm live --record` "
            f"(replay never calls the model)."
        )


def _flatten(messages: Sequence[dict[str, str]]) -> str:
    return "\n".join(f"[{m['role']}] {m['content']}" for m in messages)


def _first_difference(old: str, new: str) -> str:
    old_lines, new_lines = old.splitlines(), new.splitlines()
    for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=False)):
        if a != b:
            return f"line {i + 1}: recorded {_clip(a)!r}, now {_clip(b)!r}"
    if len(old_lines) != len(new_lines):
        return f"recorded {len(old_lines)} lines, now {len(new_lines)}"
    return "whitespace"


def _clip(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# --- LLM clients that the assistant can be given instead of the real one ------------------------


class TextStream:
    """A finished answer served like `LLMStream`: text pieces, then `finish_reason`."""

    def __init__(self, text: str, finish_reason: str = "stop") -> None:
        self._text = text
        self._finish_reason = finish_reason
        self.finish_reason: str | None = None
        self.chunks = 0

    def __iter__(self) -> Iterator[str]:
        # word-sized pieces, like a real stream: the citation parser sees split markers too
        words = self._text.split(" ")
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            if piece:
                self.chunks += 1
                yield piece
        self.finish_reason = self._finish_reason


class ReplayLLM:
    """Answers from a cassette for one case; a request it has no recording for raises
    `CassetteMiss`. It opens no connection, so replay can never reach a live model."""

    def __init__(self, cassette: Cassette, case_id: str, *, model: str) -> None:
        self.cassette = cassette
        self.case_id = case_id
        self.model = model

    @property
    def base_url(self) -> str:
        return f"cassette:{self.cassette.path}"

    def complete(self, messages: Sequence[dict[str, str]], max_tokens: int | None = None) -> str:
        return self.cassette.find(self.case_id, self.model, messages).response

    def stream(
        self, messages: Sequence[dict[str, str]], max_tokens: int | None = None
    ) -> TextStream:
        found = self.cassette.find(self.case_id, self.model, messages)
        return TextStream(found.response, found.finish_reason)

    def models(self) -> list[str]:
        return [self.model]

    def close(self) -> None:
        """Nothing to close: replay opens no connection."""


class RecordingLLM:
    """Wraps a live client and writes each request and its full reply into the cassette."""

    def __init__(self, inner: ChatLLM, cassette: Cassette, case_id: str) -> None:
        self.inner = inner
        self.cassette = cassette
        self.case_id = case_id
        self.model = inner.model

    @property
    def base_url(self) -> str:
        return self.inner.base_url

    def complete(self, messages: Sequence[dict[str, str]], max_tokens: int | None = None) -> str:
        text = self.inner.complete(messages, max_tokens)
        self._record("complete", messages, text, "stop")
        return text

    def stream(self, messages: Sequence[dict[str, str]], max_tokens: int | None = None) -> Any:
        return _RecordingStream(self, messages, self.inner.stream(messages, max_tokens))

    def models(self) -> list[str]:
        models: list[str] = getattr(self.inner, "models", lambda: [self.model])()
        return models

    def close(self) -> None:
        """The wrapped live client belongs to whoever made it (the runner closes it)."""

    def _record(
        self, call: str, messages: Sequence[dict[str, str]], text: str, finish_reason: str
    ) -> None:
        self.cassette.record(
            self.case_id,
            Interaction(
                key=request_key(self.model, messages),
                model=self.model,
                call=call,
                messages=[{"role": m["role"], "content": m["content"]} for m in messages],
                response=text,
                finish_reason=finish_reason,
            ),
        )


class _RecordingStream:
    """Passes the live stream through; records it once it ended normally (a broken stream
    raises and is not recorded, so replay never serves a half answer as complete)."""

    def __init__(self, owner: RecordingLLM, messages: Sequence[dict[str, str]], inner: Any) -> None:
        self._owner = owner
        self._messages = list(messages)
        self._inner = inner
        self.finish_reason: str | None = None
        self.chunks = 0

    def __iter__(self) -> Iterator[str]:
        pieces: list[str] = []
        for piece in self._inner:
            pieces.append(piece)
            self.chunks += 1
            yield piece
        self.finish_reason = getattr(self._inner, "finish_reason", None) or "stop"
        self._owner._record("stream", self._messages, "".join(pieces), self.finish_reason)


class _FixedLLM:
    """Always the same reply (for the doctest above)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.model = "m"
        self.base_url = "fixed:"

    def complete(self, messages: Sequence[dict[str, str]], max_tokens: int | None = None) -> str:
        return self.text

    def stream(
        self, messages: Sequence[dict[str, str]], max_tokens: int | None = None
    ) -> TextStream:
        return TextStream(self.text)

    def close(self) -> None:
        """Nothing to close."""
