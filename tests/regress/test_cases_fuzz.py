"""The case-file loader, fuzzed: any text is a suite or a `CaseFileError` naming the problems."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regress.cases import Suite, load_suite, load_suite_text
from regress.errors import CaseFileError

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30)
)
# YAML-shaped documents close to real case files, with hostile values anywhere.
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "question",
                    "must_contain",
                    "must_not_contain",
                    "must_cite",
                    "history",
                    "mode",
                    "top_k",
                    "settings",
                    "cases",
                    "role",
                    "content",
                    "refuse",
                    "re:",
                ]
            )
            | st.text(max_size=10),
            inner,
            max_size=5,
        )
    ),
    max_leaves=25,
)


def check(text: str) -> None:
    try:
        suite = load_suite_text(text, "fuzz.yaml")
    except CaseFileError as exc:
        assert "fuzz.yaml" in str(exc)
        assert exc.problems
        return
    assert isinstance(suite, Suite)


@FUZZ
@given(doc=st.dictionaries(st.just("cases"), values, min_size=1) | values)
def test_yaml_shaped_documents(doc: object) -> None:
    check(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(text=st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    check(text)


def test_huge_nested_and_binary_files(tmp_path: Path) -> None:
    try:
        load_suite_text("cases:\n  - " + "[" * 5_000 + "]" * 5_000)  # nested 5,000 deep
    except CaseFileError as exc:
        assert "nests too deeply" in str(exc)
    check("a: &a [*a]\n")  # a self-referencing alias
    check("x: " + "y" * 2_000_000)
    binary = tmp_path / "cases.yaml"
    binary.write_bytes(b"\xff\xfe\x00cases")
    try:
        load_suite(binary)
    except CaseFileError as exc:
        assert "cannot be read" in str(exc)
