"""The teacher LLM: a remote OpenAI-compatible endpoint or a small model run in-process.

Importing this package is cheap: torch, transformers and openai load only when a teacher works.
"""

from __future__ import annotations

import os
from pathlib import Path

from p2m_lib.embedded import EMBEDDED_MODELS
from p2m_lib.errors import P2MError
from p2m_lib.llm.base import Teacher
from p2m_lib.llm.local import LocalTeacher
from p2m_lib.llm.openai_backend import OpenAITeacher

__all__ = ["LocalTeacher", "OpenAITeacher", "Teacher", "endpoint_teacher", "make_teacher"]

# The openai client insists on a key; local servers (vLLM, llama.cpp) accept any.
_PLACEHOLDER_KEY = "EMPTY"


def make_teacher(spec: str = "auto") -> Teacher:
    """Build the teacher that `spec` names.

    Args:
        spec: "auto": the OpenAI-compatible endpoint in P2M_LLM_BASE_URL when that is set, else
            the default embedded teacher; "local": the default embedded teacher; "openai": the
            endpoint from the environment (P2M_LLM_BASE_URL, P2M_LLM_MODEL, OPENAI_API_KEY); the
            name of an embedded model (`qwen-coder-1.5b`, `smollm2-135m`, see
            `p2m_lib.embedded.EMBEDDED_MODELS`); anything else: the path of a Hugging Face
            causal-LM folder or of a .gguf file.

    Raises:
        P2MError: A required environment variable is missing or the path does not exist.
    """
    if spec == "auto":
        return _teacher_from_env() if os.environ.get("P2M_LLM_BASE_URL") else LocalTeacher()
    if spec == "local":
        return LocalTeacher()
    if spec == "openai":
        return _teacher_from_env()
    if spec in EMBEDDED_MODELS:
        return LocalTeacher(embedded=EMBEDDED_MODELS[spec])
    return _teacher_from_path(Path(spec).expanduser())


def _teacher_from_env() -> OpenAITeacher:
    """The OpenAI-compatible teacher that P2M_LLM_BASE_URL, P2M_LLM_MODEL and OPENAI_API_KEY describe."""
    base_url = _required_env(
        "P2M_LLM_BASE_URL", "the teacher's OpenAI-compatible URL, e.g. http://host:8000/v1"
    )
    model = _required_env("P2M_LLM_MODEL", "the teacher model's name on that server")
    return endpoint_teacher(base_url, model)


def endpoint_teacher(base_url: str, model: str) -> OpenAITeacher:
    """The teacher `model` at an OpenAI-compatible `base_url`; its key from OPENAI_API_KEY (optional)."""
    return OpenAITeacher(base_url, model, os.environ.get("OPENAI_API_KEY") or _PLACEHOLDER_KEY)


def _required_env(variable: str, meaning: str) -> str:
    value = os.environ.get(variable, "").strip()
    if not value:
        raise P2MError(f"{variable} is not set; set it to {meaning}")
    return value


def _teacher_from_path(path: Path) -> LocalTeacher:
    if path.is_file() and path.suffix == ".gguf":
        return LocalTeacher(path.parent, path.name)
    if not path.is_dir():
        raise P2MError(
            f"teacher {str(path)!r} is not 'auto', 'local', 'openai', an embedded model "
            f"({', '.join(EMBEDDED_MODELS)}), a model folder or a .gguf file"
        )
    return LocalTeacher(path)
