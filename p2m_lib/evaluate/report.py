"""One self-contained report.html per run: metrics, charts, data, timings and sample predictions.

Charts are drawn with matplotlib's Agg canvas and inlined as base64 PNG, and the page carries its
own CSS, so the file opens anywhere (a laptop, an artifact viewer in KFP) with no network access.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2m_lib.evaluate.metrics import normalize

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TEMPLATE_NAME = "report.html.j2"
MAX_SAMPLES = 20
# Metrics in [0, 100] that are charted, with their display names; `count` is shown in tables only.
SCORE_LABELS = {"exact_match": "Exact match", "chrf": "chrF++", "bertscore": "BERTScore F1"}
COUNT_LABEL = "Pairs scored"
# (summary key of the student's metrics, of the teacher's, of their paired difference, title of
# the test set, chart suffix). The real test set comes first: its labels are the only ones that
# measure quality.
EVALUATIONS = (
    ("real_metrics", "real_baseline_metrics", "real_difference", "Your labelled test set", " (real)"),
    ("metrics", "baseline_metrics", "difference", "Held-out split", ""),
)


def write_report(
    path: Path,
    summary: Mapping[str, Any],
    loss_history: Sequence[tuple[int, float]],
    predictions: Sequence[Mapping[str, Any]],
    eval_history: Sequence[Sequence[float]] = (),
) -> None:
    """Write the run's report as one HTML file with inline charts.

    Args:
        path: Where to write report.html; missing parent folders are created.
        summary: The run summary: "task" {"instruction"}, "model" {"name", "path", "parameters"},
            "metrics" and optionally "baseline_metrics" (the teacher prompted with the user's
            prompt), "real_metrics" / "real_baseline_metrics" (a user-supplied labelled test set),
            "teacher" {"name"}, "data" (counts, may nest) and "timings" {stage: seconds}.
            Every key is optional.
        loss_history: (step, training loss) pairs; may be empty.
        predictions: Rows with "input", "reference", "prediction" and optionally "teacher" and
            "split"; the first `MAX_SAMPLES` are shown.
        eval_history: (step, validation exact match, validation loss) of every validation during
            training: the learning curve, drawn with the teacher's exact match on each test set
            as a reference line and the kept step ("model" {"best_step"}) marked; may be empty.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(summary, loss_history, predictions, eval_history), encoding="utf-8")


def render_report(
    summary: Mapping[str, Any],
    loss_history: Sequence[tuple[int, float]],
    predictions: Sequence[Mapping[str, Any]],
    eval_history: Sequence[Sequence[float]] = (),
) -> str:
    """The report's HTML text (see `write_report` for the arguments)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    # Autoescape everything: inputs and predictions are arbitrary text, "<script>" included.
    environment = Environment(
        loader=FileSystemLoader(Path(__file__).parent), autoescape=True, undefined=StrictUndefined
    )
    evaluations = _evaluations(summary)
    series = [(label, metrics) for evaluation in evaluations for label, metrics in evaluation["series"]]
    model = summary.get("model") or {}
    curve = None
    if eval_history:
        figure = _learning_curve_figure(eval_history, model.get("best_step"), _teacher_lines(summary))
        curve = _png_data_uri(figure)
    return environment.get_template(TEMPLATE_NAME).render(
        instruction=(summary.get("task") or {}).get("instruction", ""),
        model=_model_rows(model),
        teacher=(summary.get("teacher") or {}).get("name"),
        evaluations=evaluations,
        compared=any(evaluation["compared"] for evaluation in evaluations),
        scores_chart=_png_data_uri(_scores_figure(series)) if series else None,
        learning_curve=curve,
        validations=_validation_rows(eval_history, model.get("best_step")),
        loss_chart=_png_data_uri(_loss_figure(loss_history)) if loss_history else None,
        data=list(_flatten(summary.get("data") or {})),
        timings=_timing_rows(summary.get("timings") or {}),
        samples=_samples(predictions),
        label_trust=label_trust(summary),
        footprint=_footprint_rows(summary.get("footprint") or {}),
        gate=summary.get("gate"),
    )


def label_trust(summary: Mapping[str, Any]) -> list[str]:
    """What the held-out split's labels are, and how far its scores can be trusted.

    Generated rows are labelled by the teacher, so on them a score measures agreement with the
    teacher, not quality (measured: a held-out split said student 75 vs teacher 25 where a real
    test set said 0 vs 20). The estimates of the labels' accuracy come from the teacher's own
    consistency and, where it ran, the judge.
    """
    data = summary.get("data") or {}
    if not summary.get("metrics") or not data.get("generated"):
        return []
    labelled = data.get("dataset", 0) + data.get("retrieved", 0)
    notes = [
        f"The held-out split's labels come from the teacher for the {data['generated']:,} generated "
        + ("examples (and from your data for the rest)" if labelled else "examples")
        + ": there, a score measures agreement with the teacher, not correctness."
    ]
    estimates = []
    agreement, judge = data.get("sample_agreement"), data.get("judge") or {}
    if agreement is not None:
        estimates.append(f"the teacher's samples agreed with its kept answer {agreement:.1f}% of the time")
    if judge.get("agreement") is not None:
        estimates.append(f"the teacher, asked as a judge, accepted {judge['agreement']:.1f}% of the pairs")
    if estimates:
        notes.append("Estimates of how often those labels are right: " + "; ".join(estimates) + ".")
    if not summary.get("real_metrics"):
        notes.append("For a score you can trust, pass a labelled test set with --test-dataset.")
    return notes


def _footprint_rows(footprint: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(what, student, teacher, how many times smaller or faster the student is) rows."""
    student, teacher = footprint.get("student") or {}, footprint.get("teacher") or {}
    rows = []
    for key, label, show in (
        ("parameters", "Parameters", lambda v: f"{v / 1e6:,.0f}M"),
        ("disk_bytes", "Size on disk", lambda v: f"{v / 1e6:,.0f} MB"),
        ("ms_per_answer", "Milliseconds per answer", lambda v: f"{v:,.1f}"),
    ):
        mine, theirs = student.get(key), teacher.get(key)
        if mine is None:
            continue
        ratio = f"{theirs / mine:,.1f}x" if theirs and mine else ""
        rows.append((label, show(mine), show(theirs) if theirs is not None else "unknown", ratio))
    return rows


def _model_rows(model: Mapping[str, Any]) -> list[tuple[str, str]]:
    labels = {
        "name": "Name",
        "path": "Path",
        "parameters": "Parameters",
        "train_rows": "Training examples",
        "steps": "Training steps",
        "best_step": "Step kept (best validation)",
        "stopped_by": "Training stopped by",
    }
    return [(label, _format_value(model[key])) for key, label in labels.items() if model.get(key) is not None]


def _teacher_lines(summary: Mapping[str, Any]) -> list[tuple[str, float]]:
    """(label, the teacher's exact match) on each test set, as reference lines on the learning curve."""
    lines = []
    for _, teacher_key, _, title, _ in EVALUATIONS:
        teacher = summary.get(teacher_key) or {}
        if teacher.get("exact_match") is not None:
            lines.append((f"teacher, {title.lower()}", float(teacher["exact_match"])))
    return lines


def _validation_rows(
    eval_history: Sequence[Sequence[float]], best_step: int | None
) -> list[tuple[str, str, str, bool]]:
    return [
        (f"{int(step):,}", f"{exact:.1f}", f"{loss:.4f}", best_step is not None and int(step) == best_step)
        for step, exact, loss in eval_history
    ]


def _evaluations(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One table per test set that has metrics: its title, column labels, rows and chart series.

    A test set scored for both the student and the teacher is `compared`: its rows also give the
    student's lead in points.
    """
    evaluations = []
    for student_key, teacher_key, difference_key, title, suffix in EVALUATIONS:
        series = [
            (who, summary[key])
            for who, key in (("Student", student_key), ("Teacher", teacher_key))
            if summary.get(key)
        ]
        if series:
            chart_series = [(f"{who}{suffix}", metrics) for who, metrics in series]
            compared = len(series) == 2
            difference = summary.get(difference_key)
            evaluations.append(
                {
                    "title": title,
                    "series": chart_series,
                    "compared": compared,
                    "difference": difference_note(difference) if compared and difference else "",
                    **_metric_table(series),
                }
            )
    return evaluations


def difference_note(difference: Mapping[str, Any]) -> str:
    """What a `paired_difference` says, in a sentence: how far apart, how sure, what would tell.

    Two standard errors either side of the difference hold the true one about 95 times in 100.
    """
    points, error = float(difference["difference"]), float(difference["standard_error"])
    rows = int(difference["rows"])
    sentence = (
        f"Exact match, student minus teacher: {points:+.1f} points over {rows:,} row{'s' * (rows != 1)} "
        f"(standard error {error:.1f}; only the student right on {difference['only_student_right']}, "
        f"only the teacher on {difference['only_teacher_right']})"
    )
    if not difference["only_student_right"] and not difference["only_teacher_right"]:
        return f"{sentence}: a tie on every row."
    # One row has no spread to estimate an error from.
    if rows > 1 and abs(points) > 2 * error:
        better = "student" if points > 0 else "teacher"
        return f"{sentence}: the {better} is better beyond two standard errors."
    return (
        f"{sentence}: within two standard errors of a tie, too close to call on these rows; "
        "score more of them (--eval-rows, or eval_rows in a pipeline) to tell."
    )


def _metric_table(series: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Column labels and rows: each charted metric's scores, then how many pairs were scored."""
    rows = [
        _score_row(label, [metrics.get(key) for _, metrics in series]) for key, label in SCORE_LABELS.items()
    ]
    counts = ["" if m.get("count") is None else _format_value(m["count"]) for _, m in series]
    rows.append({"label": COUNT_LABEL, "cells": counts, "difference": None})
    return {"columns": [name for name, _ in series], "rows": rows}


def _score_row(label: str, scores: list[Any]) -> dict[str, Any]:
    """A metric's scores (the student's, then the teacher's) and, with both, their difference."""
    values = ["" if score is None else _format_value(float(score)) for score in scores]
    if len(scores) < 2 or None in scores:
        return {"label": label, "cells": values, "difference": None}
    difference = float(scores[0]) - float(scores[1])
    return {"label": label, "cells": values, "difference": f"{difference:+.2f}", "better": difference > 0}


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(name, value) rows of a nested mapping; nested keys read "splits / train"."""
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, f"{name} / ")
        else:
            yield name, _format_value(value)


def _timing_rows(timings: Mapping[str, float]) -> list[tuple[str, str]]:
    rows = [(stage, f"{seconds:.1f}") for stage, seconds in timings.items()]
    if rows:
        rows.append(("total", f"{sum(timings.values()):.1f}"))
    return rows


def _samples(predictions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    shown = predictions[:MAX_SAMPLES]
    return {
        "total": len(predictions),
        "has_split": any("split" in row for row in shown),
        "has_teacher": any("teacher" in row for row in shown),
        "rows": [{**row, "match": _matches(row)} for row in shown],
    }


def _matches(row: Mapping[str, Any]) -> bool:
    return normalize(str(row.get("prediction", ""))) == normalize(str(row.get("reference", "")))


def _format_value(value: Any) -> str:
    if isinstance(value, Mapping) and not value:
        return "none"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _scores_figure(series: Sequence[tuple[str, Mapping[str, Any]]]) -> Figure:
    """Grouped bars: one group per metric, one bar per (model, test set)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 3.6))
    axes = figure.subplots()
    width = 0.8 / len(series)
    for index, (label, metrics) in enumerate(series):
        positions = [group + (index - (len(series) - 1) / 2) * width for group in range(len(SCORE_LABELS))]
        values = [float(metrics.get(key) or 0.0) for key in SCORE_LABELS]
        bars = axes.bar(positions, values, width, label=label)
        axes.bar_label(bars, fmt="%.1f", fontsize=8)
    axes.set_xticks(range(len(SCORE_LABELS)), list(SCORE_LABELS.values()))
    axes.set_ylim(0, 110)
    axes.set_ylabel("score (0-100)")
    axes.legend(fontsize=8, loc="upper left", ncols=len(series))
    figure.tight_layout()
    return figure


def _learning_curve_figure(
    eval_history: Sequence[Sequence[float]], best_step: int | None, teacher_lines: Sequence[tuple[str, float]]
) -> Figure:
    """Validation exact match against training steps, the kept step marked, the teacher as lines."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 3.2))
    axes = figure.subplots()
    steps = [int(point[0]) for point in eval_history]
    scores = [float(point[1]) for point in eval_history]
    axes.plot(steps, scores, marker="o", markersize=4, label="student, validation split")
    for index, (label, value) in enumerate(teacher_lines):
        axes.axhline(value, linestyle="--", linewidth=1, color=f"C{index + 1}", label=label)
    if best_step is not None and best_step in steps:
        axes.plot(
            [best_step],
            [scores[steps.index(best_step)]],
            marker="*",
            markersize=12,
            color="C3",
            linestyle="none",
            label=f"kept (step {best_step})",
        )
    axes.set_xlabel("training step")
    axes.set_ylabel("exact match (0-100)")
    axes.set_ylim(-5, 105)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return figure


def _loss_figure(loss_history: Sequence[tuple[int, float]]) -> Figure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 3.2))
    axes = figure.subplots()
    steps, losses = zip(*loss_history, strict=True)
    # Markers keep a run with a single logged step visible.
    axes.plot(steps, losses, marker="o", markersize=3)
    axes.set_xlabel("step")
    axes.set_ylabel("training loss")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def _png_data_uri(figure: Figure) -> str:
    """The figure as an inline PNG, drawn on an Agg canvas (no display, no global pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
