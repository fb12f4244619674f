"""The settings of every layer, composed into the one object the commands create and pass down.

Each layer declares its own fields (`retrieval.settings`, `retrieval.ingest.settings`,
`teams.settings`, `assistant.settings`, `regress.settings`) and extends the one below it, so the
composed `Settings` is an instance of each and every layer reads only what it declared. The field
descriptions are the one documentation of a setting: `.env.example` and the configuration
reference are generated from them (`python -m msrag.settings`), and a test fails when the
committed `.env.example` drifts.

    >>> Settings(top_k=3, llm_model="m").top_k
    3
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo

from assistant.settings import AssistantSettings
from regress.settings import RegressSettings
from retrieval.errors import EXIT_OK, EXIT_USAGE
from retrieval.ingest.settings import IngestSettings
from retrieval.settings import RetrievalSettings
from teams.settings import TeamSettings


class Settings(RegressSettings):
    """Every setting of every layer, read from the environment and `./.env`."""


# (class, section title, where it is read) from the bottom layer up: the order of the reference.
LAYERS: tuple[tuple[type[RetrievalSettings], str, str], ...] = (
    (RetrievalSettings, "Retrieval engine: store, models, layout, query", "retrieval/settings.py"),
    (IngestSettings, "Ingest: chunking and file limits", "retrieval/ingest/settings.py"),
    (TeamSettings, "Teams: sign-in, groups, history database", "teams/settings.py"),
    (AssistantSettings, "Assistant: the LLM endpoint and prompts", "assistant/settings.py"),
    (RegressSettings, "Regression suite", "regress/settings.py"),
)


def _own_fields(cls: type[RetrievalSettings]) -> dict[str, FieldInfo]:
    """The fields `cls` declares itself, not those it inherits."""
    inherited = {name for base in cls.__bases__ for name in getattr(base, "model_fields", {})}
    return {n: f for n, f in cls.model_fields.items() if n not in inherited}


def variable(name: str, field: FieldInfo) -> str:
    """The environment variable that sets a field (its first alias, else `MSRAG_<NAME>`)."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return f"MSRAG_{name.upper()}"


def _value(field: FieldInfo) -> str | None:
    """The default as an environment value, or None when it is unset by default."""
    default: Any = field.get_default(call_default_factory=True)
    if default is None or isinstance(default, SecretStr):
        return None
    if isinstance(default, bool):
        return str(default).lower()
    return str(default)


def _choices(field: FieldInfo) -> str:
    literal = getattr(field.annotation, "__args__", ())
    values = [a for a in literal if isinstance(a, str)]
    return " | ".join(values) if values and len(values) == len(literal) else ""


def env_example() -> str:
    """The text of `.env.example`: every setting with its description and default."""
    lines = [
        "# multistage-rag settings. Copy to .env (or export the variables); every line is "
        "optional.",
        "# Values shown are the defaults; a commented line is unset by default.",
        "# Generated from the settings' descriptions by `python -m msrag.settings --env-example`:",
        "# edit those, not this file.",
    ]
    for cls, title, _ in LAYERS:
        lines += ["", f"# ---- {title} " + "-" * max(4, 90 - len(title))]
        for name, field in _own_fields(cls).items():
            description = field.description or ""
            choices = _choices(field)
            lines.append(f"# {description}" + (f" ({choices})" if choices else ""))
            value = _value(field)
            if value is None:
                example = (field.examples or [""])[0]
                lines.append(f"# {variable(name, field)}={example}")
            else:
                lines.append(f"{variable(name, field)}={value}")
    return "\n".join(lines) + "\n"


def configuration_reference() -> str:
    """The configuration reference in Markdown: one table per layer."""
    parts = [
        "Settings come from environment variables and `./.env`, one variable per setting. "
        "Each layer declares its own; the command line composes them (`msrag/settings.py`).",
    ]
    for cls, title, module in LAYERS:
        parts += ["", f"## {title}", "", f"Declared in `{module}` (`{cls.__name__}`).", ""]
        parts += ["| variable | default | meaning |", "|---|---|---|"]
        for name, field in _own_fields(cls).items():
            value = _value(field)
            default = "unset" if value is None else f"`{value}`"
            choices = _choices(field)
            meaning = (field.description or "") + (f" One of: {choices}." if choices else "")
            meaning = meaning.replace("|", "\\|")
            parts.append(f"| `{variable(name, field)}` | {default} | {meaning} |")
    return "\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    if argv == ["--env-example"]:
        sys.stdout.write(env_example())
    elif argv == ["--reference"]:
        sys.stdout.write(configuration_reference())
    elif argv == ["--json"]:
        fields = {variable(n, f): _value(f) for n, f in Settings.model_fields.items()}
        sys.stdout.write(json.dumps(fields, indent=2) + "\n")
    else:
        sys.stderr.write("usage: python -m msrag.settings --env-example | --reference | --json\n")
        return EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
