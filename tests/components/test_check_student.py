"""The check_student component: its body directly, and through KFP's local runner."""

import pytest

from components.check_student import check_student
from p2m_lib.errors import P2MError


def test_a_missing_student_folder_fails_before_generation(tmp_path):
    with pytest.raises(P2MError, match="does not exist"):
        check_student.python_func(student=str(tmp_path / "no-such-model"))


def test_the_student_passes_through(run_component, tiny_causal_lm_dir):
    assert check_student.python_func(student="") == ""
    ran = run_component(check_student, student=str(tiny_causal_lm_dir))
    assert ran.parameters["Output"] == str(tiny_causal_lm_dir)
