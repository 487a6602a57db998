"""The helpers every component body shares."""

import os

import pytest

from components.runtime import component_teacher, markdown_table, run_profile, work_folder
from p2m_lib.config import get_profile
from p2m_lib.errors import P2MError


def test_run_profile_applies_overrides_with_the_fields_types():
    # KFP hands dict parameters over as JSON, where every number is a float.
    profile = run_profile("quick", 12, {"max_cost": 2}, {"max_steps": 5.0, "learning_rate": 1, "lora": True})
    assert profile.generation.num_examples == 12
    assert profile.generation.max_cost == 2.0 and isinstance(profile.generation.max_cost, float)
    assert profile.train.max_steps == 5 and isinstance(profile.train.max_steps, int)
    assert profile.train.learning_rate == 1.0 and isinstance(profile.train.learning_rate, float)
    assert profile.train.lora is True
    assert run_profile("standard") == get_profile("standard")


@pytest.mark.parametrize(
    ("training", "message"),
    [
        ({"epoch": 3}, "unknown training field 'epoch'; valid: epochs, "),
        ({"max_cost": None}, "unknown training field 'max_cost'"),
        ({"max_steps": 2.5}, "must be a whole number"),
        ({"lora": 1}, "must be true or false"),
        ({"epochs": "3"}, "must be a number"),
    ],
)
def test_run_profile_refuses_bad_training_fields(training, message):
    with pytest.raises(P2MError, match=message):
        run_profile("quick", training=training)


def test_a_teacher_endpoint_needs_a_model_name():
    with pytest.raises(P2MError, match="teacher_model is empty"):
        component_teacher("auto", "http://127.0.0.1:1/v1", "")


def test_the_endpoint_parameters_make_an_openai_teacher(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-secret")
    teacher = component_teacher("local", "http://127.0.0.1:1/v1", "big-model")
    assert teacher.capable and "big-model" in teacher.name
    # The endpoint is the component's, not the process's: later teachers must not inherit it.
    assert "P2M_LLM_BASE_URL" not in os.environ and "P2M_LLM_MODEL" not in os.environ


def test_work_folder_is_kept_when_given_and_temporary_otherwise(tmp_path):
    with work_folder(str(tmp_path), "generated") as kept:
        kept.mkdir()
    assert kept == tmp_path / "generated" and kept.is_dir()
    with work_folder("", "generated") as scratch:
        scratch.mkdir()
    assert not scratch.exists()


def test_markdown_table_keeps_each_cell_on_one_line():
    table = markdown_table([{"name": "a|b", "description": "two\nlines"}], ("name", "description"))
    assert table.splitlines() == ["| name | description |", "| --- | --- |", "| a\\|b | two lines |"]


def test_run_profile_scores_eval_rows_rows_or_the_profiles_number():
    assert run_profile("standard", eval_rows=500).max_eval_examples == 500
    assert run_profile("standard", eval_rows=0).max_eval_examples == 200
    with pytest.raises(P2MError, match="eval_rows must be a number of rows, or 0 for the profile's, not -3"):
        run_profile("quick", eval_rows=-3)
