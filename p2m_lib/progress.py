"""Rich progress bars shared by every long stage, and the list of a run's steps.

On a terminal a bar is live. Elsewhere (a KFP task's pipe, a pod's log, CI) a live bar shows
nothing until it ends, so the bar also prints a plain line, "progress: DESCRIPTION N/TOTAL", at most
every `PROGRESS_LINE_INTERVAL_S` seconds and when it ends; `p2m run` reads them from its tasks'
output to show how far the running step is (`StepList`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

# Progress and log lines go to stderr so that `--json` output on stdout stays parseable.
console = Console(stderr=True)

PROGRESS_LINE_INTERVAL_S = 5.0
STEP_PROGRESS_INTERVAL_S = 30.0
PROGRESS_LINE = re.compile(r"^progress: (.+)$", re.MULTILINE)


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Progress]:
    """Show one bar; yields the `Progress` whose first task is the bar (task id 0).

    Update it with `bar.update(0, advance=1)` or `bar.update(0, description=...)`.
    """
    progress = _ProgressWithLines(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=False,
    )
    with progress:
        progress.add_task(description, total=total, status="")
        yield progress
        progress.print_line(TaskID(0), force=True)


class _ProgressWithLines(Progress):
    """A `Progress` that prints "progress: ..." lines where its console is not a terminal."""

    def __init__(self, *columns: Any, **kwargs: Any) -> None:
        super().__init__(*columns, **kwargs)
        self._last_line = float("-inf")

    def update(self, task_id: TaskID, **kwargs: Any) -> None:
        super().update(task_id, **kwargs)
        self.print_line(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self.print_line(task_id)

    def print_line(self, task_id: TaskID, force: bool = False) -> None:
        now = time.monotonic()
        if self.console.is_terminal or (not force and now - self._last_line < PROGRESS_LINE_INTERVAL_S):
            return
        self._last_line = now
        task = self._tasks[task_id]
        done = f"{task.completed:.0f}" + (f"/{task.total:.0f}" if task.total is not None else "")
        self.console.out(f"progress: {task.description} {done}", highlight=False)


class StepList:
    """One line per step of a run: a spinner and the running step's last progress line while it
    runs, then a tick (or its status when it did not succeed) and its time.

    Where the console is no terminal (`p2m run > run.log 2>&1`, CI, nohup, a pod) a live display
    shows nothing until it ends, so plain lines are printed instead: one when a step starts, one
    when it ends (its status and time), and the running step's progress at most every
    `STEP_PROGRESS_INTERVAL_S` seconds.
    """

    def __init__(self, out: Console | None = None) -> None:
        self._console = out or console
        self._plain = not self._console.is_terminal
        self._started_at: dict[str, float] = {}
        self._last_line = float("-inf")
        self._progress = Progress(
            _StepMark(finished_text="[green]✓"),
            TextColumn("[bold]{task.description}"),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=self._console,
            # `p2m run` redirects stdout itself while its tasks run.
            redirect_stdout=False,
            redirect_stderr=False,
            disable=self._plain,
        )
        self._steps: dict[str, TaskID] = {}
        self._running: str | None = None

    def __enter__(self) -> StepList:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.__exit__(*exc_info)

    def started(self, name: str) -> None:
        self._steps[name] = self._progress.add_task(name, total=1, detail="", failed=False)
        self._running = name
        self._started_at[name] = now = time.monotonic()
        self._line(f"step {name}: started", now)

    def finished(self, name: str, status: str) -> None:
        if name not in self._steps:
            self.started(name)
        # A successful step keeps its last progress line; any other status replaces it.
        failed = status.lower() != "success"
        detail = {"detail": status.lower()} if failed else {}
        self._progress.update(self._steps[name], completed=1, failed=failed, **detail)
        if self._running == name:
            self._running = None
        now = time.monotonic()
        self._line(f"step {name}: {status.lower()} after {now - self._started_at[name]:.0f} s", now)

    def report(self, text: str) -> None:
        """Show the last "progress: ..." line of `text` beside the running step."""
        lines = PROGRESS_LINE.findall(text)
        if not lines or self._running is None:
            return
        self._progress.update(self._steps[self._running], detail=lines[-1])
        now = time.monotonic()
        if now - self._last_line >= STEP_PROGRESS_INTERVAL_S:
            self._line(f"step {self._running}: {lines[-1]}", now)

    def _line(self, text: str, now: float) -> None:
        if self._plain:
            self._last_line = now
            self._console.out(text, highlight=False)


class _StepMark(SpinnerColumn):
    """A spinner while the step runs, then a tick, or a red cross for a step that did not succeed."""

    def render(self, task: Task) -> RenderableType:
        return Text("✗", style="red") if task.fields.get("failed") else super().render(task)


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hide transformers' tqdm bars (p2m shows its own progress) and restore the setting after."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
