"""Cassettes: recording through the real LLM client, replaying, and misses that name the case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.llm import LLMClient, LLMError
from msrag.settings import Settings
from regress.cassette import (
    MISS_KIND,
    Cassette,
    CassetteError,
    CassetteMiss,
    RecordingLLM,
    ReplayLLM,
    request_key,
)
from tests.llm_server import Break, Reply, ScriptedLLM

ASK = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "When?"}]


def live_client(server: ScriptedLLM) -> LLMClient:
    # OPENAI_BASE_URL is set by its environment name (a validation alias)
    settings = Settings(
        _env_file=None, OPENAI_BASE_URL=server.url, llm_model="test-model", llm_max_retries=0
    )  # type: ignore[call-arg]
    return LLMClient(settings, backoff_s=0.0)


def test_record_save_load_replay(tmp_path: Path) -> None:
    cassette = Cassette.empty(tmp_path / "c.json")
    with ScriptedLLM() as server:
        server.script(Reply("When was she born?"), Reply("Born in 1815 [1]."))
        recorder = RecordingLLM(live_client(server), cassette, "ada")
        assert recorder.complete([{"role": "user", "content": "condense"}]) == "When was she born?"
        assert "".join(recorder.stream(ASK)) == "Born in 1815 [1]."
    cassette.save()

    loaded = Cassette.load(tmp_path / "c.json")
    [condense, answer] = loaded.cases["ada"]
    assert (condense.call, answer.call) == ("complete", "stream")
    assert answer.key == request_key("test-model", ASK) and answer.messages == ASK
    replay = ReplayLLM(loaded, "ada", model="test-model")
    stream = replay.stream(ASK)
    pieces = list(stream)
    assert "".join(pieces) == "Born in 1815 [1]." and len(pieces) > 1  # served in pieces
    assert stream.finish_reason == "stop"
    assert replay.complete([{"role": "user", "content": "condense"}]) == "When was she born?"


def test_a_broken_stream_is_not_recorded(tmp_path: Path) -> None:
    cassette = Cassette.empty(tmp_path / "c.json")
    with ScriptedLLM() as server:
        server.script(Break("Born in 1815 [1] and more", after=2))
        recorder = RecordingLLM(live_client(server), cassette, "ada")
        with pytest.raises(LLMError):
            "".join(recorder.stream(ASK))
    assert cassette.cases.get("ada", []) == []


def test_the_same_request_twice_replays_in_order(tmp_path: Path) -> None:
    cassette = Cassette.empty(tmp_path / "c.json")
    with ScriptedLLM() as server:
        server.script(Reply("first"), Reply("second"))
        recorder = RecordingLLM(live_client(server), cassette, "twice")
        recorder.complete(ASK), recorder.complete(ASK)
    replay = ReplayLLM(cassette, "twice", model="test-model")
    assert [replay.complete(ASK), replay.complete(ASK)] == ["first", "second"]


class TestMisses:
    @pytest.fixture
    def cassette(self, tmp_path: Path) -> Cassette:
        cassette = Cassette.empty(tmp_path / "c.json")
        with ScriptedLLM() as server:
            server.script(Reply("Born in 1815 [1]."))
            "".join(RecordingLLM(live_client(server), cassette, "ada").stream(ASK))
        return cassette

    def test_no_recording_for_the_case(self, cassette: Cassette) -> None:
        with pytest.raises(CassetteMiss) as info:
            ReplayLLM(cassette, "lighthouse", model="test-model").stream(ASK)
        assert info.value.case_id == "lighthouse" and info.value.kind == MISS_KIND
        assert "Case 'lighthouse' has no recording" in str(info.value)
        assert "--llm live --record" in str(info.value)

    def test_changed_request_says_where(self, cassette: Cassette) -> None:
        changed = [ASK[0], {"role": "user", "content": "When exactly?"}]
        with pytest.raises(CassetteMiss) as info:
            ReplayLLM(cassette, "ada", model="test-model").stream(changed)
        message = str(info.value)
        assert "Case 'ada' sent a request the cassette" in message
        assert "line 2: recorded '[user] When?', now '[user] When exactly?'" in message

    def test_other_model_says_so(self, cassette: Cassette) -> None:
        with pytest.raises(
            CassetteMiss, match="recorded with model test-model, this run uses gpt-x"
        ):
            ReplayLLM(cassette, "ada", model="gpt-x").complete(ASK)


def test_missing_and_unreadable_cassettes(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="does not exist: record it with"):
        Cassette.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CassetteError, match="cannot be read"):
        Cassette.load(tmp_path / "bad.json")
    (tmp_path / "old.json").write_text(json.dumps({"version": 99, "cases": {}}))
    with pytest.raises(CassetteError, match="not a version-1 cassette"):
        Cassette.load(tmp_path / "old.json")
