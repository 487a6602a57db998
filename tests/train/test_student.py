"""Choosing the student: the embedded default, an embedded model by name, a folder or a hub name."""

import pytest
from transformers import LlamaConfig, T5Config

from p2m_lib.errors import P2MError
from p2m_lib.train import default_student, model_kind, resolve_student
from p2m_lib.train import student as student_module


def test_model_kind_from_config():
    assert model_kind(LlamaConfig()) == "decoder-only"
    assert model_kind(T5Config()) == "encoder-decoder"


@pytest.mark.parametrize("name", [None, "", "default"])
def test_default_names_resolve_to_the_embedded_student(name, monkeypatch, tmp_path):
    monkeypatch.setattr(student_module, "default_student", lambda: tmp_path)

    assert resolve_student(name) == tmp_path


def test_an_existing_folder_is_used_as_is(tmp_path):
    assert resolve_student(str(tmp_path)) == tmp_path


def test_other_names_are_left_for_from_pretrained():
    assert resolve_student("google/flan-t5-base") == "google/flan-t5-base"


def test_a_missing_folder_path_is_an_error(tmp_path):
    with pytest.raises(P2MError, match="does not exist"):
        resolve_student(str(tmp_path / "missing"))


def test_an_embedded_model_name_resolves_to_its_converted_folder(monkeypatch, tmp_path):
    asked = []

    def converted(model, log):
        asked.append(model.name)
        return tmp_path

    monkeypatch.setattr(student_module, "model_folder", converted)

    assert resolve_student("qwen-coder-0.5b") == tmp_path
    assert asked == ["qwen-coder-0.5b"]


def test_the_default_student_is_the_embedded_smollm2(monkeypatch, tmp_path):
    monkeypatch.setattr(student_module, "model_folder", lambda model, log: tmp_path / model.name)

    assert default_student() == tmp_path / "smollm2-135m"
