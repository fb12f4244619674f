"""The two front ends: `msrag regress` (exit codes, table, JUnit) and the pytest plugin
(`--msrag-cases`: one test item per case), each in the way a team would run it."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from msrag.commands.regress import regress_command
from msrag.settings import Settings
from retrieval.ingest.offline import OfflineModels
from tests.conftest import REPO


@pytest.fixture
def edge_env(
    offline_model_dirs: OfflineModels,
    regress_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """What a team's shell would hold: offline models and a data dir; no `.env` in the cwd.

    The data dir is the module's, where the suite's documents are already ingested."""
    env = dict(line.split("=", 1) for line in offline_model_dirs.settings_lines())
    env["MSRAG_DATA_DIR"] = str(regress_settings.data_dir)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return env


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("regress")(regress_command)
    app.command("noop")(lambda: None)  # a second command keeps `regress` a subcommand
    return app


def test_cli_exit_codes_table_and_junit(demo_copy: Path, edge_env: dict[str, str]) -> None:
    runner = CliRunner()
    junit = demo_copy.parent / "out" / "junit.xml"
    ok = runner.invoke(
        cli(),
        ["regress", str(demo_copy), "--case", "ada-*", "--junit", str(junit)],
        env={"COLUMNS": "200"},
    )
    assert ok.exit_code == 0, ok.output
    assert "ada-follow-up" in ok.output and "matches ada-born.prompt.txt" in ok.output
    assert "4 cases, 12 checks: 12 passed — all cases pass" in ok.output
    assert junit.read_text().count("<testcase ") == 12

    demo_copy.write_text(
        demo_copy.read_text().replace('must_contain: ["1815"]', 'must_contain: ["1816"]', 1)
    )
    failed = runner.invoke(
        cli(), ["regress", str(demo_copy), "-c", "ada-born"], env={"COLUMNS": "200"}
    )
    assert failed.exit_code == 1, failed.output
    assert 'must contain "1816"' in failed.output and "1 of 1 cases failing" in failed.output

    demo_copy.write_text(demo_copy.read_text().replace("must_cite:", "must_cites:", 1))
    invalid = runner.invoke(cli(), ["regress", str(demo_copy)], env={"COLUMNS": "200"})
    assert invalid.exit_code == 2
    line = next(
        i for i, text in enumerate(demo_copy.read_text().splitlines(), 1) if "must_cites:" in text
    )
    assert (
        f"cases.yaml:{line}: case 'ada-born': unknown key 'must_cites' (did you mean 'must_cite'?)"
        in (" ".join(invalid.output.split())).replace("cases.yaml: ", "cases.yaml:")
    )


def _plugin_args() -> list[str]:
    """`-p` the plugin unless its entry point (pyproject `pytest11`) already loads it."""
    loaded = any(
        ep.value == "regress.plugin"
        for ep in importlib.metadata.entry_points(group="pytest11")
    )
    return [] if loaded else ["-p", "regress.plugin"]


@pytest.mark.slow  # a pytest run in a subprocess loads the models again
def test_pytest_plugin_turns_cases_into_items(demo_copy: Path, edge_env: dict[str, str]) -> None:
    demo_copy.write_text(demo_copy.read_text().replace("[45 euros]", "[46 euros]"))
    (demo_copy.parent / "pytest.ini").write_text("[pytest]\n")  # its own rootdir, no repo conftest
    env = {**os.environ, **edge_env, "PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        "-m",
        "pytest",
        *_plugin_args(),
        "-p",
        "no:cacheprovider",
        "-q",
        "--msrag-cases",
        "cases.yaml",
        "-k",
        "handbook or ada-born",
    ]
    done = subprocess.run(
        command, cwd=demo_copy.parent, env=env, capture_output=True, text=True, timeout=300
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "1 failed, 2 passed" in output
    assert "FAILED cases.yaml::handbook-meals" in output
    assert 'answer: fail: must contain "46 euros"' in output

    demo_copy.write_text(demo_copy.read_text().replace("must_cite:", "must_cit:", 1))
    done = subprocess.run(
        command, cwd=demo_copy.parent, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 4  # pytest's usage error: the file is wrong, no test ran
    assert "unknown key 'must_cit' (did you mean 'must_cite'?)" in done.stdout + done.stderr


def test_plugin_is_inert_without_the_option() -> None:
    # a registered plugin is imported by every pytest run: it must not pull in the runner
    code = (
        "import sys, regress.plugin; "
        "ours = ('assistant', 'regress', 'retrieval', 'openai', 'yaml', 'pydantic'); "
        "print(sorted(m for m in sys.modules if m.startswith(ours)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    # regress.llm_mode: the `--msrag-llm` choices, an enum and nothing else
    assert done.stdout.strip() == "['regress', 'regress.llm_mode', 'regress.plugin']"
