"""Rich progress bars shared by every long stage."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# Progress and log lines go to stderr so that `--json` output on stdout stays parseable.
console = Console(stderr=True)


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Progress]:
    """Show one bar; yields the `Progress` whose first task is the bar (task id 0).

    Update it with `bar.update(0, advance=1)` or `bar.update(0, description=...)`.
    """
    progress = Progress(
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
