"""Which model to fine-tune: the embedded SmolLM2-135M-Instruct by default, or any HF model."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from p2m_lib.embedded import cache_dir, smollm2_gguf
from p2m_lib.errors import P2MError
from p2m_lib.process.template import DECODER_ONLY, ENCODER_DECODER, ModelKind
from p2m_lib.progress import console

if TYPE_CHECKING:
    from transformers import PretrainedConfig

DEFAULT_STUDENT_NAMES = (None, "", "default")
DEFAULT_STUDENT_FOLDER = "smollm2-135m-instruct"


def default_student() -> Path:
    """The embedded SmolLM2-135M-Instruct as a plain Hugging Face folder, converted on first use.

    The GGUF file is quantized and cannot be fine-tuned or saved as is, so it is dequantized to
    float32 once (about 20 s, 517 MB) into `cache_dir()/students/smollm2-135m-instruct`. The
    conversion is written to a temporary folder beside it and renamed into place, so an
    interrupted conversion is never mistaken for a finished one; later calls reuse the folder.
    """
    target = cache_dir() / "students" / DEFAULT_STUDENT_FOLDER
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{DEFAULT_STUDENT_FOLDER}-", dir=target.parent))
    try:
        console.log(f"Converting the embedded SmolLM2-135M-Instruct once into {target}")
        _convert_embedded(staging)
        staging.rename(target)
    except OSError:
        # Another process finished the same conversion first: use its folder.
        if not target.is_dir():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _convert_embedded(out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, gguf_file = smollm2_gguf()
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(
            folder,
            gguf_file=gguf_file,
            quantization_config=GgufConfig(dequantize=True),
            trust_remote_code=False,
        )
        model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def resolve_student(name_or_path: str | Path | None) -> Path | str:
    """Where to load the student from.

    Args:
        name_or_path: None or "default" for the embedded SmolLM2-135M-Instruct; a model folder;
            or a model name for `from_pretrained` (needs a reachable hub or a filled HF cache).

    Returns:
        The folder's path, or the model name unchanged.

    Raises:
        P2MError: If `name_or_path` looks like a file-system path but is no folder.
    """
    if name_or_path in DEFAULT_STUDENT_NAMES:
        return default_student()
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


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hide transformers' tqdm bars (p2m shows its own progress) and restore the setting after."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
