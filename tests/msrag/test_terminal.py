"""`msrag ask` / `msrag chat` rendering: streamed text, citations, sources, errors, history."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from msrag.terminal import chat_loop, stream_turn
from tests.assistant.helpers import make_assistant
from tests.llm_server import Break, Reply


def consoles() -> tuple[Console, Console, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return (
        Console(file=out, width=200, color_system=None),
        Console(file=err, width=200, color_system=None),
        out,
        err,
    )


def test_answer_then_sources_then_timings(llm_server, tmp_path: Path) -> None:
    llm_server.script(Reply("", chunks=("Born in 1815 [", "1] [[x]] [9].")))
    assistant, _ = make_assistant(llm_server.url, tmp_path)
    console, err, out, errs = consoles()
    answer = stream_turn(assistant, "When was Ada born?", console=console, err=err, verbose=True)
    text = out.getvalue()
    assert text.startswith("Born in 1815 [1] [[x]].\n")  # model brackets printed literally
    assert "[1] Ada Lovelace — ada.md, Early life" in text
    assert "Removed citation markers that matched no passage: 9" in errs.getvalue()
    assert "first token" in errs.getvalue() and "retrieve" in errs.getvalue()
    assert "[2] Ada Lovelace" in errs.getvalue()  # uncited, verbose only
    assert answer.ok


def test_an_answer_citing_nothing_is_marked_and_the_passages_listed(
    llm_server, tmp_path: Path
) -> None:
    # what a small llama.cpp model did: a plausible answer with no marker at all
    llm_server.script(Reply("Ada Lovelace was born in 1815."))
    assistant, _ = make_assistant(llm_server.url, tmp_path)
    console, err, out, errs = consoles()
    answer = stream_turn(assistant, "When was Ada born?", console=console, err=err)
    text = out.getvalue()
    assert answer.cites_nothing and not answer.sources
    assert "This answer cites no source — check it against the passages below." in text
    assert text.index("cites no source") < text.index("[1] Ada Lovelace — ada.md")
    assert "Sources" not in text  # nothing is presented as a cited source


def test_a_cited_answer_has_no_such_mark(llm_server, tmp_path: Path) -> None:
    llm_server.script(Reply("Ada Lovelace was born in 1815 [1]."))
    console, err, out, errs = consoles()
    answer = stream_turn(
        make_assistant(llm_server.url, tmp_path)[0], "When?", console=console, err=err
    )
    assert not answer.cites_nothing
    assert "cites no source" not in out.getvalue() + errs.getvalue()


def test_partial_answer_is_marked(llm_server, tmp_path: Path) -> None:
    llm_server.script(Break("Ada was born in London", after=3))
    console, err, out, errs = consoles()
    stream_turn(make_assistant(llm_server.url, tmp_path)[0], "When?", console=console, err=err)
    assert out.getvalue().startswith("Ada was born\n")
    assert "Answer cut short:" in errs.getvalue() and "broke in the middle" in errs.getvalue()


def test_chat_loop_keeps_history_and_condenses(llm_server, tmp_path: Path) -> None:
    llm_server.script(
        Reply("Ada Lovelace was a mathematician [1]."),
        Reply("When was Ada Lovelace born?"),  # the condense call of the 2nd turn
        Reply("In 1815 [1]."),
    )
    assistant, retriever = make_assistant(llm_server.url, tmp_path)
    lines = iter(["Who was Ada Lovelace?", "x" * 5000, "When was she born?", "exit"])
    console, err, out, errs = consoles()
    history = chat_loop(assistant, console=console, err=err, read=lambda _: next(lines))
    assert [m.content for m in history] == [
        "Who was Ada Lovelace?",
        "Ada Lovelace was a mathematician [1].",
        "When was she born?",
        "In 1815 [1].",
    ]
    assert retriever.queries == ["Who was Ada Lovelace?", "When was Ada Lovelace born?"]
    assert "MSRAG_MAX_QUESTION_CHARS" in errs.getvalue()  # the long one was refused, loop went on


def test_chat_loop_ends_on_eof(tmp_path: Path) -> None:
    def eof(_: str) -> str:
        raise EOFError

    console, err, _, _ = consoles()
    assert chat_loop(make_assistant(None, tmp_path)[0], console=console, err=err, read=eof) == []
