"""The case file format: valid files load; every mistake is reported at its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from regress.cases import CaseFileError, TextPattern, load_suite, load_suite_text
from tests.regress.conftest import EXAMPLE_CASES

GOOD = """\
name: demo
documents: ../docs
settings:
  mode: hybrid
  top_k: 3
cases:
  - id: ada-born
    question: When was Ada Lovelace born?
    must_cite: ada_lovelace.md
    must_contain: ["1815", "re:\\\\b18\\\\d\\\\d\\\\b"]
  - id: follow-up
    history:
      - {role: user, content: "Who was Ada Lovelace?"}
      - {role: assistant, content: "A mathematician [1]."}
    question: When was she born?
    mode: bm25
    must_refuse: false
"""


def problems(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(CaseFileError) as info:
        load_suite_text(text, "cases.yaml")
    return info.value.problems


class TestValidFile:
    def test_fields_lines_and_paths(self, tmp_path: Path) -> None:
        path = tmp_path / "suite" / "cases.yaml"
        path.parent.mkdir()
        path.write_text(GOOD)
        suite = load_suite(path)
        ada, follow = suite.cases
        assert (ada.line, follow.line) == (7, 11)
        assert ada.must_cite == ["ada_lovelace.md"]  # a single string is a one-item list
        assert [p.regex is not None for p in ada.must_contain] == [False, True]
        assert follow.history[1].role == "assistant" and follow.mode == "bm25"
        assert follow.must_refuse is False and ada.must_refuse is None
        assert suite.document_paths == [path.parent / "../docs"]
        assert suite.goldens_dir == path.parent / "demo.goldens"
        assert suite.cassette_path == path.parent / "demo.cassette.json"

    def test_the_example_suite_is_valid(self) -> None:
        suite = load_suite(EXAMPLE_CASES)
        assert len(suite.cases) >= 10
        assert any(case.history for case in suite.cases)
        assert any(case.must_refuse for case in suite.cases)


class TestErrors:
    def test_unknown_key_names_line_key_and_suggestion(self) -> None:
        text = GOOD.replace("    must_cite: ada_lovelace.md", "    must_cit: ada_lovelace.md")
        assert problems(text) == [
            (9, "case 'ada-born': unknown key 'must_cit' (did you mean 'must_cite'?)")
        ]

    def test_message_is_file_colon_line(self) -> None:
        text = GOOD.replace("name: demo", "nmae: demo")
        with pytest.raises(CaseFileError) as info:
            load_suite_text(text, "suite/cases.yaml")
        assert "suite/cases.yaml:1: unknown key 'nmae' (did you mean 'name'?)" in str(info.value)

    def test_unknown_key_without_close_match_lists_allowed(self) -> None:
        [(line, message)] = problems(GOOD.replace("    mode: bm25", "    colour: blue"))
        assert line == 16
        assert "unknown key 'colour' (allowed: id, question, history" in message

    def test_unknown_key_in_history(self) -> None:
        text = GOOD.replace("{role: assistant, content:", "{role: assistant, contnet:")
        found = problems(text)
        assert (14, "case 'follow-up': unknown key 'contnet' (did you mean 'content'?)") in found

    def test_malformed_yaml_gives_the_line(self) -> None:
        text = GOOD.replace('must_contain: ["1815",', 'must_contain: ["1815"')
        [(line, message)] = problems(text)
        assert line == 10
        assert message.startswith("invalid YAML")

    def test_tab_indentation(self) -> None:
        [(line, message)] = problems("cases:\n\t- id: a\n")
        assert line == 2 and "'\\t'" in message

    def test_wrong_types_and_values(self) -> None:
        text = GOOD.replace("    mode: bm25", "    mode: bm52\n    top_k: many")
        found = problems(text)
        assert [line for line, _ in found] == [16, 17]
        assert "'mode': Unknown retrieval mode 'bm52'" in found[0][1]
        assert "'top_k'" in found[1][1] and "'many'" in found[1][1]

    def test_missing_required_key(self) -> None:
        text = GOOD.replace("    question: When was Ada Lovelace born?\n", "")
        assert problems(text) == [(7, "case 'ada-born': the required key 'question' is missing")]

    def test_duplicate_key_and_duplicate_id(self) -> None:
        text = GOOD.replace(
            "    must_refuse: false", "    must_refuse: false\n    must_refuse: true"
        )
        text = text.replace("id: follow-up", "id: ada-born")
        found = problems(text)
        assert (11, "the case id 'ada-born' is already used on line 7") in found
        assert (18, "the key 'must_refuse' appears twice here") in found

    def test_bad_regex(self) -> None:
        [(line, message)] = problems(GOOD.replace('"re:\\\\b18', '"re:(\\\\b18'))
        assert line == 10 and "does not compile" in message

    def test_settings_are_checked(self) -> None:
        text = GOOD.replace("  mode: hybrid", "  mdoe: hybrid\n  data_dir: /tmp/x")
        assert problems(text) == [
            (4, "settings: unknown setting 'mdoe' (did you mean 'mode'?)"),
            (
                5,
                "settings: 'data_dir' belongs to the machine running the suite, not to the "
                "suite: set it in the environment",
            ),
        ]
        [(line, message)] = problems(GOOD.replace("top_k: 3", "top_k: 0"))
        assert line == 5 and "greater than or equal to 1" in message

    def test_history_must_end_with_the_assistant(self) -> None:
        text = GOOD.replace(
            '{role: assistant, content: "A mathematician [1]."}', "{role: user, content: Hm}"
        )
        [(line, message)] = problems(text)
        assert line == 11 and "history ends with a user message" in message

    def test_case_id_must_be_a_file_name(self) -> None:
        [(line, message)] = problems(GOOD.replace("id: ada-born", "id: ada/born"))
        assert line == 7 and "it names golden files" in message

    def test_empty_and_not_a_mapping(self) -> None:
        assert problems("") == [(None, "the file is empty: add a `cases:` list")]
        assert problems("- a\n") == [(1, "the file must be a mapping with a `cases:` list")]

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(CaseFileError, match="does not exist"):
            load_suite(tmp_path / "nope.yaml")


class TestPatterns:
    def test_phrase_ignores_case_and_line_breaks(self) -> None:
        pattern = TextPattern.parse("45 euros per day")
        assert pattern.search("reimbursed up to 45\nEuros  per day.") == "45\nEuros  per day"
        assert pattern.search("45 dollars per day") is None

    def test_regex_is_searched_as_written(self) -> None:
        pattern = TextPattern.parse("re:\\b27\\b")
        assert pattern.search("27 days") == "27"
        assert pattern.search("127 days") is None
        assert TextPattern.parse("re:HACKED").search("hacked") is None
