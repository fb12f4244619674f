"""The runner on a private copy of the example suite: each kind of regression is caught, with
the reason and a readable diff; replay never reaches a live model."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

import pytest

from assistant.prompts import DEFAULT_DIR
from msrag.settings import Settings
from regress.cases import load_suite
from regress.cassette import CassetteError
from regress.report import junit_xml
from regress.runner import RegressError, RegressionRunner, RunReport
from tests.llm_server import ScriptedLLM
from tests.regress.conftest import EXAMPLE_DIR
from tests.regress.demo_llm import record_example

Run = Callable[..., RunReport]


def layers(report: RunReport, case_id: str) -> dict[str, tuple[str, str]]:
    result = next(r for r in report.results if r.case.id == case_id)
    return {layer.layer: (layer.status, layer.reason) for layer in result.layers}


def diff_of(report: RunReport, case_id: str, layer: str) -> str:
    result = next(r for r in report.results if r.case.id == case_id)
    return result.layer(layer).diff


def edit_cassette(path: Path, edit: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    edit(data["cases"])
    path.write_text(json.dumps(data))


def test_a_changed_prompt_template_is_reported_as_changed_with_a_diff(
    run_suite_at: Run, demo_copy: Path, regress_settings: Settings, tmp_path: Path
) -> None:
    prompts = shutil.copytree(DEFAULT_DIR, tmp_path / "prompts")
    system = prompts / "system.txt"
    old_rule = re.search(r"^\d+\. Be concise.*$", system.read_text(), re.MULTILINE).group(0)
    system.write_text(system.read_text().replace(old_rule, "7. Answer in one short sentence."))
    settings = regress_settings.model_copy(update={"prompts_dir": prompts})

    report = run_suite_at(demo_copy, settings, only=["ada-born"])
    status, reason = layers(report, "ada-born")["prompt"]
    assert status == "changed"
    assert reason == "differs from ada-born.prompt.txt (+1 −1 lines; --update accepts)"
    diff = diff_of(report, "ada-born", "prompt")
    assert (
        "--- ada-born.prompt.txt (stored)" in diff and "+++ ada-born.prompt.txt (this run)" in diff
    )
    assert f"-{old_rule}\n" in diff and "+7. Answer in one short sentence.\n" in diff
    # the recorded answer was for the old prompt: replay says so instead of calling a model
    status, reason = layers(report, "ada-born")["answer"]
    assert status == "error" and "Case 'ada-born' sent a request the cassette" in reason
    assert "re-record with `--llm live --record`" in reason
    assert layers(report, "ada-born")["retrieval"][0] == "pass"
    assert not report.ok and "+7. Answer in one short sentence." in report.explain()

    # --update accepts the change deliberately; the next run matches it
    accepted = run_suite_at(demo_copy, settings, only=["ada-born"], update=True)
    assert layers(accepted, "ada-born")["prompt"] == (
        "pass",
        "change accepted into ada-born.prompt.txt",
    )
    golden = demo_copy.parent / "demo.goldens" / "ada-born.prompt.txt"
    assert "7. Answer in one short sentence." in golden.read_text()
    again = run_suite_at(demo_copy, settings, only=["ada-born"])
    assert layers(again, "ada-born")["prompt"] == ("pass", "matches ada-born.prompt.txt")


def test_a_retrieval_in_a_different_order_is_detected(run_suite_at: Run, demo_copy: Path) -> None:
    golden = demo_copy.parent / "demo.goldens" / "ada-born.retrieval.txt"
    lines = golden.read_text().splitlines(keepends=True)
    first, second = lines[2], lines[3]
    assert first.startswith("1. ") and second.startswith("2. ")
    # the stored run had ranks 1 and 2 the other way round
    lines[2], lines[3] = "1. " + second[3:], "2. " + first[3:]
    golden.write_text("".join(lines))

    report = run_suite_at(demo_copy, only=["ada-born"])
    status, reason = layers(report, "ada-born")["retrieval"]
    assert status == "changed" and "ada-born.retrieval.txt" in reason
    diff = diff_of(report, "ada-born", "retrieval")
    assert f"-1. {second[3:]}" in diff and f"+1. {first[3:]}" in diff
    assert layers(report, "ada-born")["prompt"][0] == "pass"
    assert layers(report, "ada-born")["answer"][0] == "pass"
    assert not report.ok


def test_must_retrieve_failure_names_what_was_retrieved(run_suite_at: Run, demo_copy: Path) -> None:
    text = demo_copy.read_text()
    demo_copy.write_text(
        text.replace("must_retrieve: [ada_lovelace.md]", "must_retrieve: [photosynthesis.md]", 1)
    )
    report = run_suite_at(demo_copy, only=["ada-born"])
    status, reason = layers(report, "ada-born")["retrieval"]
    assert status == "fail"
    assert reason.startswith(
        "must retrieve photosynthesis.md in the top 4, got docs/ada_lovelace.md"
    )


def test_a_replayed_answer_that_drops_a_required_citation_fails_with_the_reason(
    run_suite_at: Run, demo_copy: Path
) -> None:
    def drop_citations(cases: dict) -> None:
        for interaction in cases["ada-born"]:
            interaction["response"] = re.sub(r"\s*\[\d+\]", "", interaction["response"])

    edit_cassette(demo_copy.parent / "demo.cassette.json", drop_citations)
    report = run_suite_at(demo_copy, only=["ada-born"])
    assert layers(report, "ada-born")["answer"] == (
        "fail",
        "must cite ada_lovelace.md, but cited nothing",
    )
    assert layers(report, "ada-born")["prompt"][0] == "pass"
    assert not report.ok


def test_a_missing_cassette_entry_is_an_error_naming_the_case_never_a_live_call(
    run_suite_at: Run, demo_copy: Path, regress_settings: Settings
) -> None:
    edit_cassette(
        demo_copy.parent / "demo.cassette.json", lambda cases: cases.pop("sencha-temperature")
    )
    with ScriptedLLM(models=["scripted-demo"]) as server:
        # a model is configured and reachable: replay must still not use it
        settings = regress_settings.model_copy(update={"openai_base_url": server.url})
        report = run_suite_at(demo_copy, settings, only=["sencha-temperature", "ada-born"])
        assert server.requests == []
    status, reason = layers(report, "sencha-temperature")["answer"]
    assert status == "error"
    assert reason.startswith("Case 'sencha-temperature' has no recording in the cassette")
    assert "`msrag regress <cases> --llm live --record`" in reason
    assert layers(report, "ada-born")["answer"][0] == "pass"
    assert [r.ok for r in report.results] == [True, False]  # in suite order


def test_replay_without_a_cassette_file_cannot_run(
    demo_copy: Path, regress_settings: Settings
) -> None:
    (demo_copy.parent / "demo.cassette.json").unlink()
    runner = RegressionRunner(load_suite(demo_copy), regress_settings, llm="replay")
    with pytest.raises(CassetteError, match=r"demo\.cassette\.json does not exist.*--llm off"):
        runner.open()


def test_a_missing_golden_fails_until_accepted(run_suite_at: Run, demo_copy: Path) -> None:
    golden = demo_copy.parent / "demo.goldens" / "handbook-meals.prompt.txt"
    golden.unlink()
    report = run_suite_at(demo_copy, only=["handbook-meals"])
    status, reason = layers(report, "handbook-meals")["prompt"]
    assert status == "fail" and "--update" in reason
    assert not golden.exists()  # nothing is written without --update
    accepted = run_suite_at(demo_copy, only=["handbook-meals"], update=True)
    assert layers(accepted, "handbook-meals")["prompt"][0] == "pass" and golden.exists()


def test_without_a_model_the_extractive_answer_is_checked(
    run_suite_at: Run, demo_copy: Path
) -> None:
    (demo_copy.parent / "demo.cassette.json").unlink()  # not needed
    for llm in ("off", "live"):  # live with no model configured is extractive too
        report = run_suite_at(demo_copy, only=["ada-born", "off-topic-*"], llm=llm)
        assert report.ok, report.explain()
        by_id = {r.case.id: r for r in report.results}
        assert by_id["ada-born"].answer.extractive
        assert "1815" in by_id["ada-born"].answer.text
        assert by_id["off-topic-capital"].answer.refused
    assert report.llm == "live (no model configured: extractive)"


def test_recording_against_the_scripted_model_reproduces_the_committed_cassette(
    demo_copy: Path, regress_settings: Settings
) -> None:
    cassette = demo_copy.parent / "demo.cassette.json"
    cassette.unlink()
    report = record_example(regress_settings, demo_copy, update=False)
    assert report.ok, report.explain()
    assert json.loads(cassette.read_text()) == json.loads(
        (EXAMPLE_DIR / "demo.cassette.json").read_text()
    )


def test_options_are_checked(demo_copy: Path, regress_settings: Settings) -> None:
    suite = load_suite(demo_copy)
    with pytest.raises(RegressError, match="use it with --llm live"):
        RegressionRunner(suite, regress_settings, llm="replay", record=True)
    with pytest.raises(RegressError, match="--record needs a language model"):
        RegressionRunner(suite, regress_settings, llm="live", record=True)
    with pytest.raises(RegressError, match="--llm must be one of replay, live, off"):
        RegressionRunner(suite, regress_settings, llm="recorded")


def test_junit_xml_has_one_testcase_per_case_and_layer(run_suite_at: Run, demo_copy: Path) -> None:
    edit_cassette(
        demo_copy.parent / "demo.cassette.json",
        lambda cases: cases["handbook-holidays"][0].update(response="Twenty-seven days."),
    )
    report = run_suite_at(demo_copy, only=["handbook-*"])
    root = ElementTree.fromstring(junit_xml(report))
    assert root.tag == "testsuite" and root.get("name") == "msrag-regress.demo"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "1", "0")
    failing = root.find("testcase[@classname='demo.handbook-holidays'][@name='answer']")
    assert failing is not None
    failure = failing.find("failure")
    assert failure is not None and failure.get("type") == "fail"
    assert "must cite northwind_handbook.md, but cited nothing" in failure.get("message", "")
    assert failing.get("line") == str(load_suite(demo_copy).case("handbook-holidays").line)
