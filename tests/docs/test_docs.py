"""The documentation: a short README, a site with nothing users cannot follow, generated references.

The site itself is built by `.ci/run` (`mkdocs build --strict`: a broken link or anchor fails CI);
these tests hold what a build does not check.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO

README_MAX_LINES = 300
# Folders whose files may name the development environment: the tests and the benchmarks run
# there, and say so.
EXEMPT = ("tests/", "bench/")


def _tracked_text_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    paths = [p for p in listed.split("\0") if p and not p.startswith(EXEMPT)]
    texts = []
    for path in paths:
        file = REPO / path
        if not file.is_file():  # tracked, but moved or deleted in this working tree
            continue
        try:
            file.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # images, binary data
            continue
        texts.append(path)
    return texts


def _mentions(pattern: str) -> list[str]:
    found = []
    for path in _tracked_text_files():
        for number, line in enumerate((REPO / path).read_text(encoding="utf-8").splitlines(), 1):
            if re.search(pattern, line, flags=re.IGNORECASE):
                found.append(f"{path}:{number}: {line.strip()}")
    return found


class TestReadme:
    def test_is_at_most_300_lines(self) -> None:
        lines = (REPO / "README.md").read_text(encoding="utf-8").count("\n")
        assert lines <= README_MAX_LINES, (
            f"README.md has {lines} lines (at most {README_MAX_LINES}): move detail into docs/"
        )

    def test_keeps_the_two_quick_start_commands(self) -> None:
        readme = (REPO / "README.md").read_text(encoding="utf-8")
        assert (
            "python3 -m pip install -e . && msrag models offline --write-env .env && "
            "msrag ingest examples/docs && msrag chat"
        ) in readme
        assert "bash .ci/run" in readme


class TestNothingUsersCannotFollow:
    def test_no_file_points_at_the_development_folder_outside_the_repository(self) -> None:
        # ../shared holds notes and data of the development environment; users never get it.
        leftovers = _mentions(r"\.\./shared")
        assert not leftovers, "mentions of ../shared (copy what users need into docs/):\n" + (
            "\n".join(leftovers)
        )

    def test_no_file_says_this_machine(self) -> None:
        # Say what is meant: "an environment without a model hub", "without a Qdrant server",
        # "CI", "a 2-core laptop CPU".
        leftovers = _mentions(r"this machine")
        assert not leftovers, "'this machine' (say which environment is meant):\n" + (
            "\n".join(leftovers)
        )


class TestBenchmarkResults:
    def test_every_result_is_linked_from_a_page(self) -> None:
        # The hook publishes bench/results/* under benchmarks/ (no copy to drift); a result no page
        # links is a figure the documentation lost.
        pages = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "docs").rglob("*.md"))
        results = sorted((REPO / "bench" / "results").glob("*.json"))
        assert results
        unlinked = [r.name for r in results if f"{r.name})" not in pages]
        assert not unlinked, f"bench/results files no page links to: {unlinked}"


class TestDocsExtraIsLocked:
    def test_pinned_within_range_with_hashes(self) -> None:
        project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
        lock = (REPO / "requirements.lock").read_text()
        for spec in map(Requirement, project["optional-dependencies"]["docs"]):
            name = canonicalize_name(spec.name)
            pin = re.search(
                rf"^{re.escape(spec.name)}==(\S+) \\\n\s+--hash=sha256:", lock, flags=re.M
            )
            assert pin, f"{name} (the docs extra) is not pinned with hashes in requirements.lock"
            assert spec.specifier.contains(pin.group(1), prereleases=True), (
                f"requirements.lock pins {name}=={pin.group(1)}, outside {spec}: re-lock"
            )


class TestSettingsNamedInTheDocs:
    # Environment variables of the tests and of Qdrant's own server, not settings of msrag.
    NOT_SETTINGS = {"MSRAG_LIVE_LLM_URL", "MSRAG_LIVE_LLM_MODEL", "MSRAG_TEST_MODELS_DIR"}

    def test_exist_in_the_generated_configuration_reference(self) -> None:
        from msrag.settings import configuration_reference

        reference = configuration_reference()
        pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
        unknown = sorted(
            f"{page.relative_to(REPO)}: {name}"
            for page in pages
            for name in set(
                re.findall(
                    r"\b(?:MSRAG|QDRANT|OPENAI)_[A-Z0-9]+(?:_[A-Z0-9]+)*\b", page.read_text()
                )
            )
            if name not in self.NOT_SETTINGS and f"`{name}`" not in reference
        )
        assert not unknown, f"settings the docs name but the settings model does not: {unknown}"


class TestGeneratedCliReference:
    def test_lists_every_command_of_the_app(self, monkeypatch: pytest.MonkeyPatch) -> None:
        pytest.importorskip("mkdocs", reason="the docs extra is not installed")
        # The hook fixes the terminal width for the build; give it back to the other tests after.
        monkeypatch.setenv("COLUMNS", "100")
        monkeypatch.setenv("TERMINAL_WIDTH", "100")
        import importlib.util

        import typer.main

        from msrag.cli import app

        spec = importlib.util.spec_from_file_location(
            "docs_reference_hook", REPO / "docs" / "hooks" / "reference.py"
        )
        assert spec and spec.loader
        hook = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(hook)
        page = hook.cli_reference()

        root = typer.main.get_command(app)
        ctx = root.context_class(root, info_name="msrag")

        def paths(command: Any, ctx: Any) -> Iterator[str]:
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                sub_ctx = sub.context_class(sub, info_name=name, parent=ctx)
                yield sub_ctx.command_path
                if getattr(sub, "commands", None):
                    yield from paths(sub, sub_ctx)

        missing = [p for p in paths(root, ctx) if f"`{p}`" not in page]
        assert not missing, f"commands missing from the CLI reference: {missing}"
        assert "--groups" in page and "--llm" in page  # options are listed, not only names
