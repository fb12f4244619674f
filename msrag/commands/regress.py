"""`msrag regress`: the command-line runner (composed into the root app by msrag/cli.py).

Exit codes: 0 every check passed, 1 a check failed or changed, 2 the suite could not run (an
invalid case file, a missing cassette, a bad option), 3 a live model call failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from regress.llm_mode import LLMMode
from retrieval.errors import EXIT_OK, EXIT_PARTIAL, EXIT_UPSTREAM, EXIT_USAGE

if TYPE_CHECKING:
    from msrag.settings import Settings
    from regress.runner import RunReport


def register(app: typer.Typer) -> None:
    """Add this layer's command to the root app."""
    app.command("regress")(regress_command)


def regress_command(
    cases: Annotated[
        Path | None,
        typer.Argument(
            help="The case file (YAML). With --from-feedback: default MSRAG_REGRESS_CASES.",
            show_default=False,
        ),
    ] = None,
    llm: Annotated[
        LLMMode,
        typer.Option(
            "--llm",
            help="replay: answers from the suite's cassette (offline, deterministic); live: call "
            "the configured model (extractive without one); off: check extractive answers.",
        ),
    ] = LLMMode.REPLAY,
    record: Annotated[
        bool, typer.Option("--record", help="With --llm live: write the answers to the cassette.")
    ] = False,
    update: Annotated[
        bool,
        typer.Option("--update", help="Accept changed prompt and retrieval goldens (write them)."),
    ] = False,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Also write a JUnit XML report here.")
    ] = None,
    case: Annotated[
        list[str] | None,
        typer.Option("--case", "-c", help="Only cases whose id matches this glob (repeatable)."),
    ] = None,
    from_feedback: Annotated[
        bool,
        typer.Option(
            "--from-feedback",
            help="Write every 👎 answer of the saved conversations to the case file as a case "
            "marked for review (the user's comment carried along), then exit.",
        ),
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(help="With --from-feedback: only feedback given on or after this date."),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            help="With --from-feedback: only this user's 👎 (their key, e.g. header:alice@x, or "
            "bare name); without it, every user's.",
        ),
    ] = None,
) -> None:
    """Run a prompt regression suite: prompt, retrieval and answer checks for every case.

    Prints a table per case and layer (pass / fail / changed, with the reason), the diff of
    every changed golden, and a summary line; exits with 1 if any check failed or changed.

        msrag regress examples/regress/cases.yaml                   # CI: replay the cassette
        msrag regress cases.yaml --llm live --record --update       # re-record after a change
    """
    from rich.console import Console

    from msrag.console import err, load_settings, user_errors
    from regress.cases import load_suite
    from regress.report import print_report, write_junit
    from regress.runner import RegressionRunner

    if user is not None and not from_feedback:
        err.print("[red]Error:[/red] --user goes with --from-feedback.")
        raise typer.Exit(EXIT_USAGE)
    settings = load_settings()
    if from_feedback:
        with user_errors():
            _from_feedback(cases or settings.regress_cases, settings, since, user)
        return
    if cases is None:
        err.print("[red]Error:[/red] give the case file: msrag regress CASES.yaml")
        raise typer.Exit(EXIT_USAGE)
    with user_errors():
        suite = load_suite(cases)
        runner = RegressionRunner(suite, settings, llm=llm, record=record, update=update)
        try:
            with err.status("Loading models and preparing the suite's documents…"):
                runner.open()
            report = runner.run(case)
        finally:
            runner.close()
    print_report(report, Console())
    if record:
        err.print(f"Wrote {suite.cassette_path}")
    if junit is not None:
        write_junit(report, junit)
        err.print(f"Wrote {junit}")
    raise typer.Exit(exit_code_for(report))


def exit_code_for(report: RunReport) -> int:
    """The exit-code table (docs/reference/exit-codes.md): 0 every check passed; 3 a live model call
    failed (the model, not the prompt, is to blame); 1 any other failing or changed check."""
    from regress.cassette import MISS_KIND

    if report.ok:
        return EXIT_OK
    upstream = any(
        r.answer is not None
        and r.answer.error
        and not r.answer.partial
        and r.answer.error_kind not in (MISS_KIND, "budget")
        for r in report.results
    )
    return EXIT_UPSTREAM if upstream else EXIT_PARTIAL


def _from_feedback(path: Path, settings: Settings, since: str | None, user: str | None) -> None:
    """Every user's 👎 turns (since `since`; only `user`'s if given) appended to `path` as cases
    for review, each naming who gave it. The CLI is the operator's, an admin: every user's
    feedback is theirs to read (read-only)."""
    from assistant.conversations import ConversationStore
    from msrag.console import err, out
    from regress.feedback import append_cases, case_from_turn, parse_since

    moment = parse_since(since) if since else None
    with ConversationStore(settings.conversations_path) as store:
        down = store.rated_by_everyone("down", since=moment, user=user)
    cases = [case_from_turn(r.turn, r.earlier, review=True, user=r.user_id) for r in down]
    written = append_cases(path, cases) if cases else []
    skipped = len(cases) - len(written)
    out.print(
        f"Wrote {len(written)} case{'s' if len(written) != 1 else ''} for review to {path}"
        + (f" ({skipped} already there)" if skipped else "")
        + (f" from {user}'s" if user else " from every user's")
        + (f" 👎 answers since {since}." if since else " 👎 answers.")
    )
    if written:
        err.print(
            f"Review them (REVIEW comments), add expectations, then record their goldens: "
            f"msrag regress {path} --update"
        )
