"""Progress in a pipe or a log: plain lines at the start, every N %, every N seconds, the end."""

from __future__ import annotations

import io
import time

from rich.console import Console

from retrieval.ingest.progress import PlainProgress, duration, progress_display


def piped() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=80), buffer  # a file: not a terminal


def test_a_pipe_gets_plain_lines_every_ten_percent() -> None:
    console, buffer = piped()
    with progress_display(console, unit="chunks") as bar:
        assert isinstance(bar, PlainProgress)
        task = bar.add_task("Encoding + storing", total=5183)
        for _ in range(0, 5183, 32):
            bar.advance(task, 32)
        bar.update(task, completed=5183)
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "Encoding + storing: 5,183 chunks to do; progress every 10% or 30 s."
    percents = [int(line.split("(")[1].split("%")[0]) for line in lines[1:]]
    assert len(percents) == 10 and percents[-1] == 100  # one line per 10%, the last at the end
    assert all(len(line) > 80 for line in lines[1:2])  # long lines are not wrapped at 80
    assert "chunks/s" in lines[1] and "elapsed" in lines[1] and "left" in lines[1]


def test_a_slow_run_prints_every_few_seconds_between_percent_steps() -> None:
    console, buffer = piped()
    bar = PlainProgress(console, unit="queries", every_percent=50, every_seconds=0.05)
    with bar:
        task = bar.add_task("bm25", total=100)
        bar.advance(task, 1)  # 1%: nothing yet
        time.sleep(0.1)
        bar.advance(task, 1)  # 2%, but the interval passed: a line
    lines = buffer.getvalue().splitlines()
    assert lines[1].startswith("bm25: 2/100 queries (2%)")


def test_a_terminal_gets_the_live_bar() -> None:
    terminal = Console(file=io.StringIO(), force_terminal=True)
    assert not isinstance(progress_display(terminal, unit="chunks"), PlainProgress)


def test_durations_read_as_people_say_them() -> None:
    assert [duration(s) for s in (45, 135, 683, 3780)] == [
        "45 s",
        "2 min 15 s",
        "11 min",
        "1 h 3 min",
    ]
