"""MkDocs hook: the parts of the site that are generated at build time, so they cannot drift.

- `reference/cli.md`: the marker `<!-- cli-reference -->` becomes every `msrag` command, read from
  the typer app itself (`msrag.cli.app`): usage line, help text and a table of its arguments and
  options, sub-groups (`docs`, `models`) walked recursively.
- `reference/configuration.md`: the marker `<!-- configuration-reference -->` becomes the table
  `msrag.settings.configuration_reference()` renders from the settings model's field descriptions
  (the same source as `.env.example`).
- `bench/results/*` (the JSON and PNG every benchmark writes) are added to the site under
  `benchmarks/`, beside the benchmark pages, straight from the files the benchmarks wrote: a
  re-run updates the site with no second copy to keep in step.

Registered under `hooks:` in mkdocs.yml (a plain MkDocs hook, no plugin package needed).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
CLI_MARKER = "<!-- cli-reference -->"
CONFIG_MARKER = "<!-- configuration-reference -->"

# Help text is read from the command objects, never from a terminal, but typer and rich consult
# the width when they are imported: fix it so the build is the same in every shell.
os.environ["COLUMNS"] = "100"
os.environ["TERMINAL_WIDTH"] = "100"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


# --- benchmark results, beside their pages --------------------------------------------------------
def on_files(files: Files, *, config: MkDocsConfig) -> Files:
    for path in sorted(RESULTS.iterdir()):
        if path.suffix in {".json", ".png"}:
            files.append(File.generated(config, f"benchmarks/{path.name}", abs_src_path=str(path)))
    return files


# --- the generated pages --------------------------------------------------------------------------
def on_page_markdown(markdown: str, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    if CONFIG_MARKER in markdown:
        from msrag.settings import configuration_reference

        # its sections (one per layer) sit under the page's own "Every setting" heading
        table = re.sub(r"^(#+) ", r"#\1 ", configuration_reference(), flags=re.MULTILINE)
        markdown = markdown.replace(CONFIG_MARKER, table)
    return markdown


def cli_reference() -> str:
    """Every command of `msrag` as Markdown, from the typer app."""
    import typer.main

    from msrag.cli import app

    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="msrag")
    sections: list[str] = []
    _render(root, ctx, sections, level=2)
    return "\n".join(sections)


def _render(command: Any, ctx: Any, out: list[str], level: int) -> None:
    """One section per command; a group's own section lists its sub-commands after it."""
    if ctx.parent is not None:  # the root's help is the page's introduction
        out.append(f"{'#' * level} `{ctx.command_path}`\n")
    usage = command.get_usage(ctx).removeprefix("Usage:").strip()
    out.append(f"```text\n{usage}\n```\n")
    if command.help:
        out.append(_prose(command.help) + "\n")
    rows = [
        record
        for param in command.get_params(ctx)
        if not getattr(param, "hidden", False)
        for record in [param.get_help_record(ctx)]
        if record is not None and record[0] != "--help"
    ]
    if rows:
        out.append("| argument or option | meaning |\n|---|---|")
        out.extend(f"| `{names}` | {_cell(text)} |" for names, text in rows)
        out.append("")
    subcommands = getattr(command, "commands", None)
    if subcommands:
        names = command.list_commands(ctx)
        out.append("Commands: " + ", ".join(f"`{ctx.command_path} {n}`" for n in names) + ".\n")
        for name in names:
            sub = command.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            _render(sub, sub.context_class(sub, info_name=name, parent=ctx), out, level + 1)


_CODE_SPAN = re.compile(r"(`[^`]*`)")


def _inline(text: str) -> str:
    """Help text as Markdown: `<…>` outside code spans is text, not HTML."""
    parts = _CODE_SPAN.split(text)
    return "".join(
        part if part.startswith("`") else part.replace("<", "&lt;").replace(">", "&gt;")
        for part in parts
    )


def _prose(help_text: str) -> str:
    """Help paragraphs; indented example lines (four spaces) stay a code block."""
    lines = help_text.replace("\b\n", "").splitlines()
    return "\n".join(line if line.startswith("    ") else _inline(line) for line in lines)


def _cell(text: str) -> str:
    return _inline(" ".join(text.split())).replace("|", "\\|")
