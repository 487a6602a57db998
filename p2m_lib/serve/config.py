"""Serving limits and batching: what one server accepts and how it groups concurrent requests."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from p2m_lib.errors import P2MError
from p2m_lib.process.template import TEMPLATE_FILE

DEFAULT_MODEL_NAME = "p2m"
DEFAULT_HTTP_PORT = 8080
# A model name is a path segment of every route: only characters that need no escaping.
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def check_model_name(name: str) -> str:
    """Return `name` if it can be a model name in KServe's routes.

    Raises:
        P2MError: If it is not 1-63 letters, digits, ".", "_" or "-" starting with a letter or digit.
    """
    if not _MODEL_NAME.fullmatch(name):
        raise P2MError(
            f"model name {name!r} must be 1-63 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def find_model_dir(path: Path) -> Path:
    """The model folder at `path`: `path` itself, or the model of the run folder `path`.

    A run folder's model is where its summary.json says (`model.path`), else `model/`.

    Raises:
        P2MError: If neither holds a p2m model (a `p2m_template.json`).
    """
    path = Path(path)
    candidates = [path]
    summary = path / "summary.json"
    if summary.is_file():
        candidates.append(path / json.loads(summary.read_text(encoding="utf-8"))["model"]["path"])
    candidates.append(path / "model")
    for candidate in candidates:
        if (candidate / TEMPLATE_FILE).is_file():
            return candidate
    raise P2MError(
        f"{path} is neither a model folder (with {TEMPLATE_FILE}) nor a run folder with a trained model: "
        "run `p2m run` first"
    )


@dataclass(frozen=True)
class ServeConfig:
    """Limits on requests and the micro-batching of concurrent ones.

    Attributes:
        max_batch_size: Most inputs decoded together. Concurrent requests are grouped up to this
            many inputs; 1 turns batching off (every input decoded on its own, one at a time).
        max_wait_ms: How long the first waiting request may wait for others to join its batch.
        max_instances: Most inputs in one request; more is a 400.
        max_input_chars: Longest input in characters; longer is a 400. (Inputs over the model's
            training length are still cut in the middle, exactly as in evaluation.)
        max_new_tokens_limit: Highest `max_new_tokens` a request may ask for; without one, the
            model folder's generation config decides.
    """

    max_batch_size: int = 16
    max_wait_ms: float = 10.0
    max_instances: int = 64
    max_input_chars: int = 4000
    max_new_tokens_limit: int = 256

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "max_instances", "max_input_chars", "max_new_tokens_limit"):
            if getattr(self, name) < 1:
                raise P2MError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.max_wait_ms < 0:
            raise P2MError(f"max_wait_ms must not be negative, not {self.max_wait_ms}")

    @property
    def batching(self) -> bool:
        """Whether concurrent requests are decoded together."""
        return self.max_batch_size > 1
