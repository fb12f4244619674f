"""The case file: a YAML suite of questions and what their answers must (not) do.

Validation is strict because a typo must not silently drop an expectation: an unknown key is an
error naming the file, the line and the key (with a did-you-mean suggestion), and so are a bad
value, a duplicate key, a duplicate case id and a regex that does not compile.

>>> suite = load_suite_text('''
... cases:
...   - id: ada-born
...     question: When was Ada Lovelace born?
...     must_contain: ["1815"]
... ''', "inline.yaml")
>>> suite.cases[0].id, suite.cases[0].must_contain[0].describe()
('ada-born', '"1815"')

Matching rules (documented for suite authors in examples/regress/README.md):
- `must_contain` / `must_not_contain` items are phrases, matched case-insensitively with runs of
  whitespace treated as one space; an item starting with `re:` is a Python regular expression,
  searched as written (add `(?i)` yourself for case-insensitive).
- `must_cite` / `must_retrieve` items name a document: its source path (`examples/docs/ada.md`),
  any trailing part of it on a `/` boundary (`ada.md`, `docs/ada.md`), its doc id, or a passage id.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from regress.errors import CaseFileError
from regress.settings import RegressSettings
from retrieval.modes import mode_spec

REGEX_PREFIX = "re:"
# Case ids become file names of golden files: keep them portable.
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
# Settings a suite must not pin: where data lives and secrets belong to the machine running it.
_UNPINNABLE = frozenset(
    {
        "data_dir",
        "models_cache_dir",
        "openai_api_key",
        "openai_base_url",
        "qdrant_url",
        "qdrant_api_key",
    }
)


@dataclass(frozen=True)
class TextPattern:
    """A `must_contain` / `must_not_contain` item: a phrase, or a regex written as `re:…`."""

    raw: str
    regex: re.Pattern[str] | None

    @classmethod
    def parse(cls, raw: str) -> TextPattern:
        if raw.startswith(REGEX_PREFIX):
            body = raw[len(REGEX_PREFIX) :].strip()
            try:
                return cls(raw, re.compile(body))
            except re.error as exc:
                raise ValueError(f"the regex {body!r} does not compile ({exc})") from None
        if not raw.strip():
            raise ValueError("an empty phrase matches everything: remove it")
        return cls(raw, None)

    def search(self, text: str) -> str | None:
        """The matching part of `text`, or None."""
        if self.regex is not None:
            found = self.regex.search(text)
            return found.group(0) if found else None
        words = [re.escape(w) for w in self.raw.split()]
        found = re.search(r"\s+".join(words), text, re.IGNORECASE)
        return found.group(0) if found else None

    def describe(self) -> str:
        if self.regex is not None:
            return f"regex /{self.regex.pattern}/"
        return f'"{self.raw}"'


class HistoryMessage(BaseModel):
    """One earlier turn: `{role: user|assistant, content: ...}`."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str = Field(min_length=1)


class Case(BaseModel):
    """One question and its expectations. `line` is where the case starts in the file."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    id: str = Field(pattern=_ID_PATTERN)
    question: str = Field(min_length=1)
    history: list[HistoryMessage] = Field(default_factory=list)
    mode: str | None = None
    top_k: int | None = Field(None, ge=1, le=100)
    must_cite: list[str] = Field(default_factory=list)
    must_retrieve: list[str] = Field(default_factory=list)
    must_contain: list[TextPattern] = Field(default_factory=list)
    must_not_contain: list[TextPattern] = Field(default_factory=list)
    # True: must say it has no answer; False: must answer; unset: not checked.
    must_refuse: bool | None = None
    _line: int = PrivateAttr(0)

    @field_validator("must_contain", "must_not_contain", mode="before")
    @classmethod
    def _patterns(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            return value  # pydantic reports the type error
        out = []
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"expected a phrase or 're:<regex>' string, got {item!r}")
            out.append(TextPattern.parse(item))
        return out

    @field_validator("must_cite", "must_retrieve", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, value: str | None) -> str | None:
        return None if value is None else mode_spec(value).name

    @property
    def line(self) -> int:
        return self._line


class Suite(BaseModel):
    """A case file. Paths in it are relative to the file.

    - `name`: shown in reports and JUnit (default: the file name without extension);
    - `documents`: files or folders to ingest into a collection of the suite's own
      (`regress-<name>`), so the suite never depends on — or touches — your working index;
      without it the cases run against the configured store as it is;
    - `goldens`: folder of the stored prompts and retrievals (default `<name>.goldens`);
    - `cassette`: the recorded LLM answers (default `<name>.cassette.json`);
    - `settings`: settings the results depend on, pinned (e.g. `mode`, `top_k`, `llm_model`);
    - `cases`: the list of cases.
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, pattern=_ID_PATTERN)
    documents: list[str] = Field(default_factory=list)
    goldens: str | None = None
    cassette: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    cases: list[Case] = Field(min_length=1)
    _path: Path = PrivateAttr(Path("cases.yaml"))

    @field_validator("documents", mode="before")
    @classmethod
    def _documents(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @property
    def path(self) -> Path:
        return self._path

    @property
    def suite_name(self) -> str:
        return self.name or self._path.stem

    @property
    def root(self) -> Path:
        return self._path.parent

    @property
    def goldens_dir(self) -> Path:
        return self.root / (self.goldens or f"{self.suite_name}.goldens")

    @property
    def cassette_path(self) -> Path:
        return self.root / (self.cassette or f"{self.suite_name}.cassette.json")

    @property
    def document_paths(self) -> list[Path]:
        return [self.root / d for d in self.documents]

    def case(self, case_id: str) -> Case:
        for case in self.cases:
            if case.id == case_id:
                return case
        raise KeyError(case_id)


# --- loading -------------------------------------------------------------------------------


def load_suite(path: Path | str) -> Suite:
    """Read and validate a case file; raises `CaseFileError` with line-accurate problems."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CaseFileError(
            str(path), [(None, "the file does not exist: check the path")]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseFileError(str(path), [(None, f"the file cannot be read ({exc})")]) from None
    suite = load_suite_text(text, str(path))
    suite._path = path
    return suite


def load_suite_text(text: str, name: str = "<cases>") -> Suite:
    """Validate case-file text; `name` is used in error messages."""
    try:
        return _load_suite_text(text, name)
    except RecursionError:  # PyYAML's composer recurses once per nesting level
        raise CaseFileError(
            name, [(None, "the YAML nests too deeply: flatten its lists and mappings")]
        ) from None


def _load_suite_text(text: str, name: str) -> Suite:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise CaseFileError(name, [_yaml_problem(exc)]) from None
    except yaml.YAMLError as exc:
        raise CaseFileError(name, [(None, f"invalid YAML: {exc}")]) from None
    if root is None:
        raise CaseFileError(name, [(None, "the file is empty: add a `cases:` list")])
    if not isinstance(root, yaml.MappingNode):
        raise CaseFileError(
            name, [(root.start_mark.line + 1, "the file must be a mapping with a `cases:` list")]
        )
    problems = _duplicate_keys(root)
    data = yaml.SafeLoader(text).get_single_data()
    problems += _settings_problems(data.get("settings"), _child(root, "settings"))
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        problems += [_locate(root, data, err) for err in exc.errors()]
        raise CaseFileError(name, problems) from None
    problems += _case_problems(suite, root)
    if problems:
        raise CaseFileError(name, problems)
    for case, node in zip(suite.cases, _case_nodes(root), strict=True):
        case._line = node.start_mark.line + 1
    return suite


def _yaml_problem(exc: yaml.MarkedYAMLError) -> tuple[int | None, str]:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    message = f"invalid YAML (column {mark.column + 1}): {exc.problem}" if mark else "invalid YAML"
    ctx = exc.context_mark
    if exc.context and ctx is not None and (mark is None or ctx.line != mark.line):
        message += f" ({exc.context} that starts on line {ctx.line + 1})"
    elif exc.context:
        message += f" ({exc.context})"
    return line, message


def _case_nodes(root: yaml.MappingNode) -> list[yaml.Node]:
    cases = _child(root, "cases")
    return list(cases.value) if isinstance(cases, yaml.SequenceNode) else []


def _child(node: yaml.Node | None, key: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == key:
                return v
    elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        return node.value[key]
    return None


def _key_node(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if k.value == key:
                return k
    return None


def _duplicate_keys(node: yaml.Node) -> list[tuple[int | None, str]]:
    """PyYAML keeps the last of two equal keys; for expectations that would hide one."""
    problems: list[tuple[int | None, str]] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value in seen:
                problems.append((k.start_mark.line + 1, f"the key '{k.value}' appears twice here"))
            seen.add(getattr(k, "value", ""))
            problems += _duplicate_keys(v)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            problems += _duplicate_keys(item)
    return problems


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The allowed keys of the mapping at `loc` (for did-you-mean)."""
    if not loc:
        return list(Suite.model_fields)
    if loc[0] == "cases" and len(loc) == 2:
        return list(Case.model_fields)
    if loc[0] == "cases" and len(loc) == 4 and loc[2] == "history":
        return list(HistoryMessage.model_fields)
    return []


def _where(loc: tuple[Any, ...], data: Any) -> str:
    """'case 'ada-born'' for locations inside a case, '' otherwise."""
    if len(loc) >= 2 and loc[0] == "cases" and isinstance(loc[1], int):
        try:
            case_id = data["cases"][loc[1]].get("id")
        except (KeyError, IndexError, TypeError, AttributeError):
            case_id = None
        return f"case '{case_id}'" if case_id else f"case #{loc[1] + 1}"
    return ""


def _locate(root: yaml.Node, data: Any, err: Any) -> tuple[int | None, str]:
    loc: tuple[Any, ...] = tuple(err["loc"])
    # Walk the node tree as far as the location goes; the deepest node found gives the line.
    node: yaml.Node | None = root
    parent: yaml.Node | None = None
    for part in loc:
        nxt = _child(node, part)
        if nxt is None:
            break
        parent, node = node, nxt
    where = _where(loc, data)
    prefix = f"{where}: " if where else ""
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        key_node = _key_node(parent, key)
        line = (key_node or node or root).start_mark.line + 1
        allowed = _fields_at(loc[:-1])
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(allowed)})"
        return line, f"{prefix}unknown key '{key}'{hint}"
    field = (
        ".".join(str(p) for p in loc[2:] if not isinstance(p, int))
        if where
        else ".".join(str(p) for p in loc)
    )
    field = field or "case"
    line = (node or root).start_mark.line + 1
    if kind == "missing":
        return line, f"{prefix}the required key '{loc[-1]}' is missing"
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind == "string_pattern_mismatch" and loc[-1] in ("id", "name"):
        message = (
            "use letters, digits, '-', '_' or '.' (it names golden files), at most 100 characters"
        )
    if kind in ("list_type", "string_type", "bool_type", "int_type", "int_parsing", "bool_parsing"):
        message += f", got {err.get('input')!r}"
    return line, f"{prefix}'{field}': {message}"


def _case_problems(suite: Suite, root: yaml.MappingNode) -> list[tuple[int | None, str]]:
    problems: list[tuple[int | None, str]] = []
    seen: dict[str, int] = {}
    for case, node in zip(suite.cases, _case_nodes(root), strict=True):
        line = node.start_mark.line + 1
        if case.id in seen:
            problems.append(
                (line, f"the case id '{case.id}' is already used on line {seen[case.id]}")
            )
        seen.setdefault(case.id, line)
        if case.history and case.history[-1].role == "user":
            problems.append(
                (
                    line,
                    f"case '{case.id}': the history ends with a user message; the question is "
                    "the next user message, so the history should end with the assistant's reply",
                )
            )
    return problems


def _settings_problems(pinned: Any, node: yaml.Node | None) -> list[tuple[int | None, str]]:
    """Suite `settings:` keys must be real settings that describe the suite, not the machine."""
    if not isinstance(pinned, dict):
        return []  # absent, or pydantic reports that it is not a mapping
    problems: list[tuple[int | None, str]] = []
    allowed = set(RegressSettings.model_fields) - _UNPINNABLE

    def line_of(key: str) -> int | None:
        key_node = _key_node(node, key)
        return key_node.start_mark.line + 1 if key_node else None

    for key in pinned:
        if key in _UNPINNABLE:
            problems.append(
                (
                    line_of(key),
                    f"settings: '{key}' belongs to the machine running the "
                    "suite, not to the suite: set it in the environment",
                )
            )
        elif key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append((line_of(key), f"settings: unknown setting '{key}'{hint}"))
    if problems:
        return problems
    try:
        RegressSettings.model_validate(pinned)
    except ValidationError as exc:
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else ""
            problems.append((line_of(key), f"settings: '{key}': {err['msg']}"))
    return problems


def pinned_settings(settings: RegressSettings, suite: Suite) -> RegressSettings:
    """`settings` with the suite's pinned values applied (validated by `load_suite`)."""
    if not suite.settings:
        return settings
    validated = RegressSettings.model_validate(suite.settings)
    update = {key: getattr(validated, key) for key in suite.settings}
    if "prompts_dir" in update and update["prompts_dir"] is not None:
        update["prompts_dir"] = suite.root / update["prompts_dir"]
    return settings.model_copy(update=update)
