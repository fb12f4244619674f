"""Prompt regression testing: YAML cases, three checked layers, cassettes, a pytest plugin.

    from regress import load_suite, RegressionRunner
    suite = load_suite("examples/regress/cases.yaml")
    with RegressionRunner(suite, settings) as runner:
        report = runner.run()
    report.ok, report.summary()
    # -> (True, '14 cases, 42 checks: 42 passed — all cases pass in 3.0 s (replay)')

See examples/regress/README.md for the case format and the workflow.
"""

from __future__ import annotations

import importlib
from typing import Any

# Lazy re-exports (PEP 562): the pytest plugin lives in this package and is imported by every
# pytest run once registered; it must not pull in the assistant, openai or the models.
_EXPORTS = {
    "Case": "cases",
    "CaseFileError": "errors",
    "Suite": "cases",
    "load_suite": "cases",
    "Cassette": "cassette",
    "CassetteError": "errors",
    "CassetteMiss": "cassette",
    "CaseResult": "runner",
    "LayerResult": "runner",
    "RegressError": "errors",
    "RegressionRunner": "runner",
    "RunReport": "runner",
    "run_suite": "runner",
    "junit_xml": "report",
    "print_report": "report",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'regress' has no attribute {name!r}")
    return getattr(importlib.import_module(f"regress.{module}"), name)


__all__ = sorted(_EXPORTS)  # provided lazily by __getattr__
