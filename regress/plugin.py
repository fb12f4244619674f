"""pytest plugin: every case of a suite becomes a test item, next to a team's own tests.

    pytest --msrag-cases examples/regress/cases.yaml             # replay (the default)
    pytest --msrag-cases cases.yaml --msrag-llm off -k ada       # extractive, some cases
    pytest --msrag-cases cases.yaml --msrag-llm live --msrag-record --msrag-update

Items are named `<cases file>::<case id>`; a failing item shows each failing layer with its
reason and diff. Settings (`RegressSettings`) come from the environment and `.env`, as for
`msrag`. The models, store and documents are opened once per case file, at its first item.

Or from a test, with settings of your own:

    def test_regressions(msrag_regress, settings):
        report = msrag_regress("examples/regress/cases.yaml", settings)
        assert report.ok, report.explain()

Registered as the `pytest11` entry point `msrag`. Importing it costs nothing but pytest: the
runner is imported only when `--msrag-cases` is given or the fixture is used.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from regress.llm_mode import LLMMode


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("msrag", "multistage-rag prompt regression")
    group.addoption(
        "--msrag-cases",
        action="append",
        default=[],
        metavar="CASES.yaml",
        help="Run the cases of this suite as test items (repeatable).",
    )
    group.addoption(
        "--msrag-llm",
        choices=[mode.value for mode in LLMMode],
        default=LLMMode.REPLAY.value,
        help="replay: recorded answers (default); live: the configured model; off: extractive.",
    )
    group.addoption(
        "--msrag-record", action="store_true", help="With --msrag-llm live: write the cassette."
    )
    group.addoption(
        "--msrag-update", action="store_true", help="Accept changed prompt/retrieval goldens."
    )


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselection sees the items
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    for raw in config.getoption("msrag_cases") or []:
        path = Path(raw)
        if not path.is_absolute():
            path = Path(config.invocation_params.dir) / path
        items.extend(CasesFile.from_parent(session, path=path.resolve()).collect())


class CasesFile(pytest.File):
    """A case file; its runner is opened by the first item and closed when the session ends."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._runner: Any = None
        self._open_error: BaseException | None = None

    def collect(self) -> list[pytest.Item]:
        from regress.cases import load_suite
        from regress.errors import CaseFileError

        try:
            self.suite = load_suite(self.path)
        except CaseFileError as exc:  # a usage error: the whole run is misconfigured
            raise pytest.UsageError(str(exc)) from None
        return [CaseItem.from_parent(self, name=case.id, case=case) for case in self.suite.cases]

    def runner(self) -> Any:
        if self._open_error is not None:
            raise self._open_error
        if self._runner is None:
            from regress.runner import RegressionRunner
            from regress.settings import RegressSettings

            config = self.config
            try:
                runner = RegressionRunner(
                    self.suite,
                    RegressSettings(),
                    llm=config.getoption("msrag_llm"),
                    record=config.getoption("msrag_record"),
                    update=config.getoption("msrag_update"),
                )
                runner.open()
            except Exception as exc:  # every case of the file reports the same reason
                self._open_error = exc
                raise
            self._runner = runner
            config.add_cleanup(runner.close)
        return self._runner


class RegressionFailure(Exception):
    """A case with a failing layer; carries the `CaseResult`."""

    def __init__(self, result: Any) -> None:
        super().__init__(result.explain())
        self.result = result


class CaseItem(pytest.Item):
    """One case of a suite; passes when all three layers pass."""

    def __init__(self, *, case: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        parent = self.parent
        assert isinstance(parent, CasesFile)
        result = parent.runner().run_case(self.case)
        self.user_properties.extend(
            (f"{layer.layer}", f"{layer.status}: {layer.reason}") for layer in result.layers
        )
        if not result.ok:
            raise RegressionFailure(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, RegressionFailure):
            return str(excinfo.value)
        from retrieval.errors import MsragError

        if isinstance(excinfo.value, MsragError):  # the suite could not run: say why, briefly
            return f"case '{self.case.id}' could not run: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.line - 1, f"msrag case {self.case.id}"


@pytest.fixture
def msrag_regress(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Run a case file from a test: `msrag_regress(path, settings=None, **options) -> RunReport`.

    Options are those of `run_suite` (`llm`, `record`, `update`, `only`, `encoders`); `llm`
    defaults to `--msrag-llm`. The report's `explain()` lists every failing case.
    """

    def run(path: str | Path, settings: Any = None, **options: Any) -> Any:
        from regress.runner import run_suite
        from regress.settings import RegressSettings

        options.setdefault("llm", request.config.getoption("msrag_llm"))
        options.setdefault("update", request.config.getoption("msrag_update"))
        chosen = settings if settings is not None else RegressSettings()
        return run_suite(str(path), chosen, **options)

    return run
