"""Choosing the student, and the one-time conversion of the embedded SmolLM2 GGUF."""

import pytest
from transformers import LlamaConfig, T5Config

from p2m_lib.errors import P2MError
from p2m_lib.train import default_student, model_kind, resolve_student
from p2m_lib.train import student as student_module

STUDENTS = ("students", "smollm2-135m-instruct")


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


def test_an_existing_conversion_is_reused_without_converting(monkeypatch, tmp_path):
    monkeypatch.setenv("P2M_CACHE_DIR", str(tmp_path))
    target = tmp_path.joinpath(*STUDENTS)
    target.mkdir(parents=True)
    monkeypatch.setattr(student_module, "_convert_embedded", _fail)

    assert default_student() == target


def test_an_interrupted_conversion_leaves_nothing_behind(monkeypatch, tmp_path):
    monkeypatch.setenv("P2M_CACHE_DIR", str(tmp_path))

    def half_write(out):
        (out / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(student_module, "_convert_embedded", half_write)

    with pytest.raises(KeyboardInterrupt):
        default_student()
    assert list(tmp_path.joinpath(STUDENTS[0]).iterdir()) == []


def _fail(out):
    raise AssertionError("the student must not be converted again")


@pytest.mark.slow
def test_the_embedded_gguf_is_converted_once(monkeypatch, tmp_path):
    monkeypatch.setenv("P2M_CACHE_DIR", str(tmp_path))

    folder = default_student()

    assert folder == tmp_path.joinpath(*STUDENTS)
    names = {path.name for path in folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert not any(name.endswith(".gguf") for name in names)
    assert "quantization_config" not in (folder / "config.json").read_text()
    assert [path.name for path in folder.parent.iterdir()] == [STUDENTS[1]]
    mtime = (folder / "model.safetensors").stat().st_mtime_ns

    monkeypatch.setattr(student_module, "_convert_embedded", _fail)
    assert default_student() == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == mtime
