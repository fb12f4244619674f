"""Prompt templates: strict slots, custom directories, and snapshots of the rendered prompts
(so any prompt change shows up in review: `pytest --snapshot-update` after a deliberate one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.chat import Assistant
from assistant.prompts import TEMPLATES, PromptError, PromptLibrary
from assistant.types import ChatMessage
from tests.assistant.conftest import StaticRetriever, llm_settings, make_passages


class TestLibrary:
    def test_every_template_exists_and_renders(self):
        lib = PromptLibrary.default()
        for name in TEMPLATES:
            lib.render(name, **dict.fromkeys(lib.slots(name), "x"))

    def test_missing_slot_is_an_error_naming_it(self):
        with pytest.raises(PromptError, match=r"missing \['question'\]"):
            PromptLibrary.default().render("answer", passages="p")

    def test_unknown_slot_is_an_error_naming_it(self):
        with pytest.raises(PromptError, match=r"unknown \['colour'\]"):
            PromptLibrary.default().render("refusal", colour="red")

    def test_missing_directory(self, tmp_path: Path):
        with pytest.raises(PromptError, match="MSRAG_PROMPTS_DIR"):
            PromptLibrary(tmp_path / "nope")

    def test_missing_template_in_a_custom_directory(self, tmp_path: Path):
        with pytest.raises(PromptError, match=r"system\.txt is missing"):
            PromptLibrary(tmp_path).render("system")

    def test_invalid_placeholder(self, tmp_path: Path):
        (tmp_path / "system.txt").write_text("Costs $ 5")
        with pytest.raises(PromptError, match=r"\$\$"):
            PromptLibrary(tmp_path).render("system")

    def test_settings_choose_the_directory(self, tmp_path: Path):
        for name in TEMPLATES:
            src = PromptLibrary.default().source(name)
            (tmp_path / f"{name}.txt").write_text(src.replace("research assistant", "librarian"))
        settings = llm_settings(None, tmp_path, prompts_dir=tmp_path)
        assert "librarian" in PromptLibrary.from_settings(settings).render("system")


QUESTIONS = {
    "born": "When was Ada Lovelace born?",
    "babbage": "Who did Ada meet in 1833, and where?",
    "plants": "How often should the pothos be watered?",
}


@pytest.fixture
def assistant(tmp_path: Path) -> Assistant:
    settings = llm_settings("http://127.0.0.1:9/v1", tmp_path)
    return Assistant(settings, StaticRetriever(make_passages()))


@pytest.mark.parametrize("key", sorted(QUESTIONS))
def test_answer_prompt_snapshot(assistant: Assistant, key: str, snapshot) -> None:
    _, messages = assistant.build_prompt(QUESTIONS[key], make_passages())
    assert messages == snapshot


def test_answer_prompt_under_a_tight_budget_snapshot(tmp_path: Path, snapshot) -> None:
    settings = llm_settings(
        "http://127.0.0.1:9/v1", tmp_path, llm_context_window=1024, llm_answer_tokens=520
    )
    context, messages = Assistant(settings, StaticRetriever([])).build_prompt(
        QUESTIONS["born"], make_passages()
    )
    assert context.omitted  # the snapshot shows what a cut looks like to the model
    assert messages == snapshot


def test_condense_prompt_snapshot(assistant: Assistant, snapshot) -> None:
    history = [
        ChatMessage("user", "Who was Ada Lovelace?"),
        ChatMessage(
            "assistant", "Ada Lovelace was a mathematician [1] who worked with Babbage [2]."
        ),
    ]
    assert assistant.condense_messages("When was she born?", history) == snapshot


def test_refusal_and_extractive_label_snapshot(snapshot) -> None:
    lib = PromptLibrary.default()
    assert {"refusal": lib.render("refusal"), "extractive": lib.render("extractive")} == snapshot
