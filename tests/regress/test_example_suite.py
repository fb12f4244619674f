"""The example suite (examples/regress) passes in replay mode: its goldens and cassette are current.

This is how CI runs prompt regression (`.ci/run` → pytest). When it fails after a deliberate
change to a prompt, the retrieval or the demo documents, review the diff it prints and re-record:
`python3 -m tests.regress.demo_llm` (see examples/regress/README.md).
"""

from __future__ import annotations

from collections.abc import Callable

from regress.runner import RunReport
from tests.regress.conftest import EXAMPLE_CASES


def test_example_suite_passes_in_replay(run_suite_at: Callable[..., RunReport]) -> None:
    report = run_suite_at(EXAMPLE_CASES, llm="replay")
    assert len(report.results) >= 10
    assert report.ok, report.explain()
    statuses = {
        (r.case.id, layer.layer): layer.status for r in report.results for layer in r.layers
    }
    assert set(statuses.values()) == {"pass"}
    # the suite exercises what it claims to: a refusal, a condensed follow-up, the injection doc
    by_id = {r.case.id: r for r in report.results}
    assert by_id["off-topic-capital"].answer.refused
    follow_up = by_id["ada-follow-up"].answer
    assert follow_up.standalone_question == "When was Ada Lovelace born?"
    assert follow_up.condense_messages
    injected = by_id["plants-injection"].answer
    assert any("HACKED" in s.text for s in injected.all_sources)  # the order was in the prompt
    assert "HACKED" not in injected.text


def test_example_suite_passes_without_a_model(run_suite_at: Callable[..., RunReport]) -> None:
    # `msrag regress examples/regress/cases.yaml --llm off`: what a newcomer without an LLM runs
    report = run_suite_at(EXAMPLE_CASES, llm="off")
    assert report.ok, report.explain()
    by_id = {r.case.id: r for r in report.results}
    # a follow-up cannot be condensed without a model: skipped with the reason, not failed
    follow_up = by_id["ada-follow-up"]
    assert {layer.status for layer in follow_up.layers} == {"skipped"}
    assert "needs a language model" in follow_up.layers[0].reason
    answered = [r for r in report.results if r.answer is not None and not r.answer.refused]
    assert len(answered) >= 10 and all(r.answer.extractive for r in answered)
