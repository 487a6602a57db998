"""bench/rescore.py: the paired difference between student and teacher, and its standard error."""

import pytest

from bench.rescore import paired_difference


def test_counts_rows_only_one_of_them_got_right_and_the_differences_standard_error():
    references = ["red", "green", "blue", "gold"]
    student = ["red", "green", "pink", " Gold."]  # compared normalised, as exact match compares
    teacher = ["red", "pink", "blue", "pink"]
    figures = paired_difference(student, teacher, references)
    # Per row: 0, +1, -1, +1; mean 0.25, sample variance 0.9167, standard error sqrt(0.9167 / 4).
    assert figures == {
        "student": 75.0,
        "teacher": 50.0,
        "difference": 25.0,
        "standard_error": 47.87,
        "only_student_right": 2,
        "only_teacher_right": 1,
    }


def test_no_rows_is_an_error():
    with pytest.raises(SystemExit, match="no test rows to score"):
        paired_difference([], [], [])
