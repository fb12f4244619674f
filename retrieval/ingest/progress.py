"""Progress of long runs (ingest, re-index, evaluation): a live bar in a terminal, plain lines in
a pipe or a log — where a bar prints nothing until it ends, and a 30-minute run looks hung.

    with progress_display(console, unit="chunks") as bar:
        task = bar.add_task("Encoding + storing", total=5183)
        bar.advance(task, 32)
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


def progress_display(
    console: Console,
    *,
    unit: str,
    enabled: bool = True,
    transient: bool = False,
    every_percent: float = 10.0,
    every_seconds: float = 30.0,
) -> Progress | PlainProgress:
    """A rich bar when `console` is a terminal, else `PlainProgress` lines; silent if disabled."""
    if enabled and not console.is_terminal:
        return PlainProgress(
            console, unit=unit, every_percent=every_percent, every_seconds=every_seconds
        )
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=transient,
    )


class _RateColumn(ProgressColumn):
    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        # The run's average: steadier than rich's sliding-window speed for uneven batches.
        speed = task.completed / task.elapsed if task.elapsed else None
        text = f"{speed:.1f} {self.unit}/s" if speed else f"– {self.unit}/s"
        return Text(text, style="progress.data.speed")


class PlainProgress:
    """The part of `rich.progress.Progress` our runs use, printing one plain line at the start,
    then every `every_percent` % or `every_seconds` s, and at the end:

        Encoding + storing: 1,040/5,183 chunks (20%), 7.6 chunks/s, 2 min 17 s elapsed, ~9 min left
    """

    def __init__(
        self, console: Console, *, unit: str, every_percent: float, every_seconds: float
    ) -> None:
        self.console = console
        self.unit = unit
        self.every_percent = every_percent
        self.every_seconds = every_seconds
        self._tasks: list[_Plain] = []

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            for task in self._tasks:
                if task.printed_at < task.completed:
                    self._line(task)

    def add_task(self, description: str, total: float | None = None, **_: object) -> TaskID:
        task = _Plain(description, int(total or 0), time.monotonic())
        self._tasks.append(task)
        every = f"every {self.every_percent:g}% or {self.every_seconds:g} s"
        self._print(f"{description}: {task.total:,} {self.unit} to do; progress {every}.")
        return TaskID(len(self._tasks) - 1)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        task = self._tasks[task_id]
        self.update(task_id, completed=task.completed + advance)

    def update(self, task_id: TaskID, *, completed: float | None = None, **_: object) -> None:
        task = self._tasks[task_id]
        if completed is not None:
            task.completed = min(int(completed), task.total) if task.total else int(completed)
        now = time.monotonic()
        step = task.total * self.every_percent / 100 if task.total else float("inf")
        if task.completed - task.printed_at >= step or (
            now - task.printed_time >= self.every_seconds and task.completed > task.printed_at
        ):
            self._line(task)

    def _line(self, task: _Plain) -> None:
        now = time.monotonic()
        elapsed = now - task.started
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        parts = [f"{task.description}: {task.completed:,}/{task.total:,} {self.unit}"]
        if task.total:
            parts[0] += f" ({100 * task.completed / task.total:.0f}%)"
        parts.append(f"{rate:.1f} {self.unit}/s")
        parts.append(f"{duration(elapsed)} elapsed")
        if rate > 0 and task.completed < task.total:
            parts.append(f"~{duration((task.total - task.completed) / rate)} left")
        self._print(", ".join(parts))
        task.printed_at, task.printed_time = task.completed, now

    def _print(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)


class _Plain:
    def __init__(self, description: str, total: int, started: float) -> None:
        self.description = description
        self.total = total
        self.started = started
        self.completed = 0
        self.printed_at = 0
        self.printed_time = started


def duration(seconds: float) -> str:
    """A duration as a person says it: "45 s", "2 min 15 s", "1 h 3 min"."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s < 600 else f"{round(s / 60)} min"
    return f"{s // 3600} h {round(s % 3600 / 60)} min"
