"""Progress where no terminal shows a live bar: plain lines, and the list of a run's steps."""

import io
from types import SimpleNamespace

import pytest
from rich.console import Console

from p2m_lib import progress


@pytest.fixture
def piped(monkeypatch):
    """The progress console writing to a pipe-like buffer, as in a KFP task or a pod's log."""
    console = Console(file=io.StringIO(), force_terminal=False, width=100)
    monkeypatch.setattr(progress, "console", console)
    return console.file


def test_a_bar_prints_a_line_at_most_every_interval_and_one_at_the_end(piped, monkeypatch):
    clock = iter([0.0, 1.0, 6.0, 7.0, 8.0])
    monkeypatch.setattr(progress, "time", SimpleNamespace(monotonic=lambda: next(clock)))

    with progress.progress_bar("Training", total=4) as bar:
        for _ in range(4):
            bar.update(0, advance=1)

    lines = [line for line in piped.getvalue().splitlines() if line.startswith("progress:")]
    assert lines == ["progress: Training 1/4", "progress: Training 3/4", "progress: Training 4/4"]


def test_a_bar_without_a_total_counts_alone(piped):
    with progress.progress_bar("tokenizing", total=None) as bar:
        bar.update(0, advance=7)

    assert "progress: tokenizing 7\n" in piped.getvalue()


def test_the_step_list_shows_each_steps_last_progress_line_and_how_it_ended(piped):
    with progress.StepList() as steps:
        steps.started("generate")
        steps.report("log line\nprogress: generate 3/40\nprogress: generate 40/40\n")
        steps.finished("generate", "SUCCESS")
        steps.report("progress: stray 1/1\n")  # no step running: shown nowhere
        steps.started("train")
        steps.finished("train", "FAILURE")

    shown = piped.getvalue()
    assert "✓ generate generate 40/40" in shown
    assert "✗ train    failure" in shown
    assert "stray" not in shown
