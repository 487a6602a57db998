"""report.html: one self-contained file with the metrics, charts, data, timings and samples."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from p2m_lib.evaluate import write_report

TOO_CLOSE = (
    "within two standard errors of a tie, too close to call on these rows; score more of them "
    "(--eval-rows, or eval_rows in a pipeline) to tell."
)
PNG_IMAGE = re.compile(r'<img src="data:image/png;base64,[A-Za-z0-9+/]+=*"')


def _summary(**extra: Any) -> dict[str, Any]:
    return {
        "task": {"instruction": "Translate English to French."},
        "model": {"name": "tiny-student", "path": "model", "parameters": 134515008},
        "metrics": {"exact_match": 41.25, "chrf": 63.5, "bertscore": 88.75, "count": 80},
        "data": {"generated": 100, "splits": {"train": 80, "val": 10, "test": 10}},
        "timings": {"generate": 12.34, "train": 56.78},
        **extra,
    }


def _predictions(count: int = 3) -> list[dict[str, str]]:
    return [
        {
            "input": f"input {i}",
            "reference": f"reference {i}",
            "prediction": f"prediction {i}",
            "teacher": "t",
        }
        for i in range(count)
    ]


def _write(tmp_path: Path, summary: dict[str, Any], loss: list[tuple[int, float]], rows: list[Any]) -> str:
    path = tmp_path / "out" / "report.html"
    write_report(path, summary, loss, rows)
    return path.read_text(encoding="utf-8")


def test_report_shows_task_metrics_charts_data_and_timings(tmp_path: Path) -> None:
    baseline = {"exact_match": 12.5, "chrf": 30.25, "bertscore": 70.0, "count": 80}
    html = _write(
        tmp_path, _summary(baseline_metrics=baseline), [(1, 2.5), (2, 1.75), (3, 1.2)], _predictions()
    )

    assert "Translate English to French." in html
    assert "tiny-student" in html and "134,515,008" in html
    for number in ("41.25", "63.50", "88.75", "12.50", "30.25", "70.00"):
        assert f">{number}<" in html
    assert len(PNG_IMAGE.findall(html)) == 2  # the score bars and the loss curve
    assert "splits / train" in html and ">80<" in html
    assert ">12.3<" in html and ">56.8<" in html and ">69.1<" in html  # two stages and the total
    assert "prediction 2" in html
    assert not re.search(r"(src|href)=\"https?:", html)


def test_report_shows_the_real_test_set_next_to_the_generated_one(tmp_path: Path) -> None:
    real = {"exact_match": 5.0, "chrf": 21.0, "bertscore": 61.0, "count": 7}
    real_baseline = {"exact_match": 3.0, "chrf": 19.0, "bertscore": 59.0, "count": 7}
    html = _write(tmp_path, _summary(real_metrics=real, real_baseline_metrics=real_baseline), [], [])
    assert "Your labelled test set" in html
    assert ">21.00<" in html and ">19.00<" in html


def test_report_escapes_predictions(tmp_path: Path) -> None:
    rows = [{"input": "x", "reference": "y", "prediction": "<script>alert(1)</script>"}]
    html = _write(tmp_path, _summary(), [(1, 1.0)], rows)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_report_without_baseline_or_loss_history(tmp_path: Path) -> None:
    rows = [{"input": "x", "reference": "y", "prediction": "z"}]
    html = _write(tmp_path, _summary(), [], rows)
    assert "no training steps logged" in html
    assert len(PNG_IMAGE.findall(html)) == 1  # the score bars only
    assert ">Teacher<" not in html  # no baseline column, no teacher sample column
    assert ">41.25<" in html


def test_report_shows_at_most_20_predictions(tmp_path: Path) -> None:
    html = _write(tmp_path, _summary(), [], _predictions(25))
    assert "prediction 19<" in html and "prediction 20<" not in html
    assert "Showing 20 of 25" in html


@pytest.mark.parametrize("summary", [{}, {"task": None, "metrics": None, "data": {}, "timings": {}}])
def test_report_tolerates_a_bare_summary(tmp_path: Path, summary: dict[str, Any]) -> None:
    html = _write(tmp_path, summary, [], [])
    assert "no metrics recorded" in html
    assert "no predictions recorded" in html
    assert "<img" not in html


def test_report_compares_student_and_teacher_point_by_point(tmp_path: Path) -> None:
    real = {"exact_match": 97.5, "chrf": 99.0, "bertscore": 99.5, "count": 40}
    real_baseline = {"exact_match": 67.5, "chrf": 80.25, "bertscore": 99.75, "count": 40}
    html = _write(tmp_path, _summary(real_metrics=real, real_baseline_metrics=real_baseline), [], [])

    section = html[html.index("<h2>Student vs teacher</h2>") : html.index("<h2>Learning curve</h2>")]
    assert 'class="number better">+30.00<' in section  # exact match: 97.5 against 67.5
    assert 'class="number better">+18.75<' in section  # chrF++
    assert 'class="number worse">-0.25<' in section  # BERTScore
    assert section.count("Your labelled test set") == 1  # one table, titled once


@pytest.mark.parametrize(
    ("difference", "sentence"),
    [
        (
            {
                "difference": -9.0,
                "standard_error": 2.48,
                "only_student_right": 4,
                "only_teacher_right": 22,
                "rows": 200,
            },
            "Exact match, student minus teacher: -9.0 points over 200 rows (standard error 2.5; only "
            "the student right on 4, only the teacher on 22): the teacher is better beyond two "
            "standard errors.",
        ),
        (
            {
                "difference": 0.0,
                "standard_error": 0.0,
                "only_student_right": 0,
                "only_teacher_right": 0,
                "rows": 50,
            },
            "Exact match, student minus teacher: +0.0 points over 50 rows (standard error 0.0; only "
            "the student right on 0, only the teacher on 0): a tie on every row.",
        ),
        (
            {
                "difference": -100.0,
                "standard_error": 0.0,
                "only_student_right": 0,
                "only_teacher_right": 1,
                "rows": 1,
            },
            "Exact match, student minus teacher: -100.0 points over 1 row (standard error 0.0; only "
            "the student right on 0, only the teacher on 1): " + TOO_CLOSE,
        ),
        (
            {
                "difference": 5.0,
                "standard_error": 3.4,
                "only_student_right": 3,
                "only_teacher_right": 1,
                "rows": 40,
            },
            "Exact match, student minus teacher: +5.0 points over 40 rows (standard error 3.4; only "
            "the student right on 3, only the teacher on 1): " + TOO_CLOSE,
        ),
    ],
)
def test_report_says_how_sure_the_difference_is(
    tmp_path: Path, difference: dict[str, Any], sentence: str
) -> None:
    real = {"exact_match": 85.0, "chrf": 86.0, "bertscore": 90.0, "count": difference["rows"]}
    summary = _summary(real_metrics=real, real_baseline_metrics=real, real_difference=difference)
    html = _write(tmp_path, summary, [], [])
    section = html[html.index("<h2>Student vs teacher</h2>") : html.index("<h2>Learning curve</h2>")]
    assert f'<p class="note">{sentence}</p>' in section
    # The held-out split has no teacher baseline in this summary: no sentence for it.
    assert section.count("student minus teacher") == 1


def test_report_without_a_teacher_says_so(tmp_path: Path) -> None:
    html = _write(tmp_path, _summary(), [], [])
    assert "no teacher baseline recorded" in html


def test_report_draws_the_learning_curve_and_marks_the_kept_step(tmp_path: Path) -> None:
    model = {
        "name": "tiny-student",
        "train_rows": 190,
        "steps": 60,
        "best_step": 48,
        "stopped_by": "last step",
    }
    summary = _summary(model=model, real_baseline_metrics={"exact_match": 70.0, "count": 40})
    history = [(12, 65.0, 0.09), (24, 90.0, 0.02), (36, 100.0, 0.008), (48, 100.0, 0.004), (60, 95.0, 0.005)]
    path = tmp_path / "report.html"

    write_report(path, summary, [(1, 2.0), (60, 0.01)], [], history)

    html = path.read_text(encoding="utf-8")
    curve = html[html.index("<h2>Learning curve</h2>") : html.index("<h2>Training loss</h2>")]
    assert len(PNG_IMAGE.findall(curve)) == 1
    assert "Validation exact match per training step" in curve
    rows = re.findall(r"<tr><td class=\"number\">(\d+)</td><td class=\"number\">([\d.]+)</td>", curve)
    assert rows == [("12", "65.0"), ("24", "90.0"), ("36", "100.0"), ("48", "100.0"), ("60", "95.0")]
    kept = [row for row in curve.split("<tr>") if ">yes<" in row]
    assert len(kept) == 1 and kept[0].startswith('<td class="number">48<')
    for label, value in [("Training examples", "190"), ("Step kept (best validation)", "48")]:
        assert f"<th>{label}</th><td>{value}</td>" in html


def test_report_without_validations_says_so(tmp_path: Path) -> None:
    html = _write(tmp_path, _summary(), [(1, 1.0)], [])
    assert "no validation during training" in html


def test_the_real_test_set_comes_first_and_the_held_out_labels_are_explained(tmp_path: Path) -> None:
    real = {"exact_match": 92.5, "chrf": 95.0, "bertscore": 99.0, "count": 40}
    data = {"generated": 100, "dataset": 20, "sample_agreement": 96.3, "judge": {"agreement": 91.0}}
    html = _write(tmp_path, _summary(real_metrics=real, data=data), [], [])

    assert html.index("<h3>Your labelled test set</h3>") < html.index("<h3>Held-out split</h3>")
    assert (
        "The held-out split&#39;s labels come from the teacher for the 100 generated examples (and from "
        "your data for the rest): there, a score measures agreement with the teacher, not correctness."
    ) in html
    assert (
        "Estimates of how often those labels are right: the teacher&#39;s samples agreed with its kept "
        "answer 96.3% of the time; the teacher, asked as a judge, accepted 91.0% of the pairs."
    ) in html
    assert "pass a labelled test set with --test-dataset" not in html


def test_without_a_real_test_set_the_report_says_how_to_get_a_trustworthy_score(tmp_path: Path) -> None:
    html = _write(tmp_path, _summary(), [], [])

    assert "from the teacher for the 100 generated examples: there, a score measures agreement" in html
    assert "For a score you can trust, pass a labelled test set with --test-dataset." in html


def test_student_and_teacher_size_and_speed_side_by_side(tmp_path: Path) -> None:
    footprint = {
        "student": {"parameters": 134_515_008, "disk_bytes": 538_000_000, "ms_per_answer": 40.0},
        "teacher": {
            "name": "big",
            "parameters": 1_777_088_000,
            "disk_bytes": 3_560_000_000,
            "ms_per_answer": 610.0,
        },
    }
    html = _write(tmp_path, _summary(footprint=footprint), [], [])

    section = html[html.index("<h2>Smaller and cheaper</h2>") : html.index("<h2>Learning curve</h2>")]
    cells = re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", section)
    assert cells[4:] == [
        "Parameters", "135M", "1,777M", "13.2x",
        "Size on disk", "538 MB", "3,560 MB", "6.6x",
        "Milliseconds per answer", "40.0", "610.0", "15.2x",
    ]  # fmt: skip


def test_a_remote_teachers_size_is_unknown(tmp_path: Path) -> None:
    footprint = {
        "student": {"parameters": 1_000_000, "ms_per_answer": 5.0},
        "teacher": {"ms_per_answer": 50.0},
    }
    html = _write(tmp_path, _summary(footprint=footprint), [], [])

    assert '<td class="number">unknown</td>' in html and "10.0x" in html
