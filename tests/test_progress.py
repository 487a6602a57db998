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


def test_the_step_list_shows_each_steps_last_progress_line_and_how_it_ended(monkeypatch):
    terminal = Console(file=io.StringIO(), force_terminal=True, width=100, color_system=None)

    with progress.StepList(terminal) as steps:
        steps.started("generate")
        steps.report("log line\nprogress: generate 3/40\nprogress: generate 40/40\n")
        steps.finished("generate", "SUCCESS")
        steps.report("progress: stray 1/1\n")  # no step running: shown nowhere
        steps.started("train")
        steps.finished("train", "FAILURE")

    shown = terminal.file.getvalue()
    assert "✓ generate generate 40/40" in shown
    assert "✗ train    failure" in shown
    assert "stray" not in shown
    assert "step generate: started" not in shown


def test_without_a_terminal_each_step_prints_plain_lines_and_progress_every_30_s(piped, monkeypatch):
    clock = iter([0.0, 10.0, 31.0, 32.0, 95.0, 100.0, 101.0])
    monkeypatch.setattr(progress, "time", SimpleNamespace(monotonic=lambda: next(clock)))

    with progress.StepList() as steps:
        steps.started("generate")  # 0
        steps.report("progress: generate 3/40\n")  # 10: too soon after the last line
        steps.report("progress: generate 20/40\n")  # 31
        steps.report("progress: generate 21/40\n")  # 32: too soon
        steps.finished("generate", "SUCCESS")  # 95
        steps.started("train")  # 100
        steps.finished("train", "FAILURE")  # 101

    assert piped.getvalue().splitlines() == [
        "step generate: started",
        "step generate: generate 20/40",
        "step generate: success after 95 s",
        "step train: started",
        "step train: failure after 1 s",
    ]
