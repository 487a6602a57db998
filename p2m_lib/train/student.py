"""Which model to fine-tune: an embedded model by name (SmolLM2-135M by default), or any HF model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from p2m_lib.embedded import DEFAULT_STUDENT, EMBEDDED_MODELS, embedded_model, model_folder
from p2m_lib.errors import P2MError
from p2m_lib.process.template import DECODER_ONLY, ENCODER_DECODER, ModelKind
from p2m_lib.progress import console

if TYPE_CHECKING:
    from transformers import PretrainedConfig

DEFAULT_STUDENT_NAMES = (None, "", "default")


def default_student() -> Path:
    """The embedded default student as a plain Hugging Face folder, converted on first use."""
    return model_folder(embedded_model(DEFAULT_STUDENT), console.log)


def resolve_student(name_or_path: str | Path | None) -> Path | str:
    """Where to load the student from.

    Args:
        name_or_path: None or "default" for the embedded SmolLM2-135M-Instruct; the name of an
            embedded model (`qwen-coder-0.5b`); a model folder; or a model name for
            `from_pretrained` (needs a reachable hub or a filled HF cache).

    Returns:
        The folder's path, or the model name unchanged.

    Raises:
        P2MError: If `name_or_path` looks like a file-system path but is no folder.
    """
    if name_or_path in DEFAULT_STUDENT_NAMES:
        return default_student()
    if name_or_path in EMBEDDED_MODELS:
        return model_folder(EMBEDDED_MODELS[str(name_or_path)], console.log)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if isinstance(name_or_path, Path) or str(name_or_path).startswith((".", "/", "~")):
        raise P2MError(f"student model folder {name_or_path} does not exist")
    return str(name_or_path)


def model_kind(config: PretrainedConfig) -> ModelKind:
    """ "encoder-decoder" for models such as T5, else "decoder-only"."""
    return ENCODER_DECODER if getattr(config, "is_encoder_decoder", False) else DECODER_ONLY


def student_name(student: Path | str) -> str:
    """A short display name: the folder's name, or the hub name as given."""
    return student.name if isinstance(student, Path) else str(student)
