"""Showing a run: a rich table per case and layer, the diffs, a summary line, JUnit XML.

JUnit gets one test case per case and layer (`classname` = suite.case, `name` = layer), so CI
systems list "ada-born › prompt changed" rather than one opaque failure.

>>> from xml.etree import ElementTree
>>> ElementTree.fromstring(junit_xml(RunReport(suite=_demo_suite(), llm="replay"))).get("tests")
'0'
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from regress.cases import Suite, load_suite_text
from regress.runner import RunReport

_STYLE = {"pass": "green", "fail": "red", "changed": "yellow", "error": "red", "skipped": "dim"}


def results_table(report: RunReport) -> Table:
    """One row per case and layer: status and reason."""
    table = Table(title=f"{report.suite.suite_name} ({report.llm})", show_lines=False)
    table.add_column("case", no_wrap=True)
    table.add_column("layer", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("reason", overflow="fold")
    for result in report.results:
        for i, layer in enumerate(result.layers):
            style = _STYLE[layer.status]
            table.add_row(
                escape(result.case.id) if i == 0 else "",
                layer.layer,
                f"[{style}]{layer.status}[/{style}]",
                escape(layer.reason),
                end_section=i == len(result.layers) - 1,
            )
    return table


def print_report(report: RunReport, console: Console, *, diffs: bool = True) -> None:
    """The table, then the diff of every changed (or, with --update, accepted) layer."""
    console.print(results_table(report))
    if diffs:
        for result in report.results:
            for layer in result.layers:
                if layer.diff and (layer.failed or report.update):
                    console.rule(f"{result.case.id} › {layer.layer}: {layer.status}")
                    console.print(Syntax(layer.diff, "diff", theme="ansi_dark", word_wrap=True))
    colour = "green" if report.ok else "red"
    console.print(f"[{colour}]{escape(report.summary())}[/{colour}]")


def junit_xml(report: RunReport) -> str:
    suite_name = report.suite.suite_name
    counts = report.counts()
    failures = counts["fail"] + counts["changed"]
    root = ET.Element(
        "testsuite",
        name=f"msrag-regress.{suite_name}",
        tests=str(sum(counts.values())),
        failures=str(failures),
        errors=str(counts["error"]),
        skipped=str(counts["skipped"]),
        time=f"{report.seconds:.3f}",
        timestamp=datetime.now(UTC).replace(microsecond=0).isoformat(),
        hostname=socket.gethostname(),
    )
    props = ET.SubElement(root, "properties")
    ET.SubElement(props, "property", name="llm", value=report.llm)
    ET.SubElement(props, "property", name="cases_file", value=str(report.suite.path))
    for result in report.results:
        share = result.seconds / max(len(result.layers), 1)
        for layer in result.layers:
            element = ET.SubElement(
                root,
                "testcase",
                classname=f"{suite_name}.{result.case.id}",
                name=layer.layer,
                time=f"{share:.3f}",
                file=str(report.suite.path),
                line=str(result.case.line),
            )
            body = layer.reason + (f"\n\n{layer.diff}" if layer.diff else "")
            if layer.status in ("fail", "changed"):
                failure = ET.SubElement(element, "failure", message=layer.reason, type=layer.status)
                failure.text = body
            elif layer.status == "error":
                error = ET.SubElement(element, "error", message=layer.reason, type="error")
                error.text = body
            elif layer.status == "skipped":
                ET.SubElement(element, "skipped", message=layer.reason)
            elif layer.reason:
                ET.SubElement(element, "system-out").text = body
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(report: RunReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(report), encoding="utf-8")


def _demo_suite() -> Suite:
    return load_suite_text("cases:\n  - id: demo\n    question: q\n", "demo.yaml")
