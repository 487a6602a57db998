"""`p2m compile`: both pipelines as KFP IR YAML, with their Kubernetes platform spec."""

from __future__ import annotations

from pathlib import Path

from kfp import compiler

from pipelines.index import build_index_pipeline
from pipelines.prompt2model import build_prompt2model

PROMPT2MODEL_FILE = "prompt2model.yaml"
INDEX_FILE = "index.yaml"


def compile_pipelines(out_dir: Path, work_volume: str = "") -> list[Path]:
    """Write `out_dir/prompt2model.yaml` and `out_dir/index.yaml`; returns their paths.

    Args:
        out_dir: Folder to write into (created).
        work_volume: A PVC the prompt2model steps with resumable state mount at /p2m-work.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for pipeline, name in (
        (build_prompt2model(work_volume), PROMPT2MODEL_FILE),
        (build_index_pipeline(), INDEX_FILE),
    ):
        compiler.Compiler().compile(pipeline, str(out_dir / name))
        written.append(out_dir / name)
    return written
