"""Fixtures for component tests: every stage's output made once by p2m_lib, and a one-component KFP run."""

import dataclasses
import json
import warnings
from pathlib import Path

import pytest
from kfp import dsl, local
from openai_server import OpenAICompatServer

from p2m_lib.config import get_profile
from p2m_lib.llm import OpenAITeacher
from p2m_lib.stages import (
    LabelledData,
    evaluate_stage,
    generate_stage,
    labelled_stage,
    process_stage,
    train_stage,
    write_json,
)
from p2m_lib.types import Example, TaskSpec

WORDS = ["sun", "moon", "star", "cloud", "rain", "snow", "wind", "leaf", "tree", "rock"]
TINY_TRAINING = {"max_steps": 1, "batch_size": 2}


@pytest.fixture(scope="session")
def echo_teacher():
    """A loopback OpenAI-compatible teacher that echoes its prompt: enough for stages to run."""
    with OpenAICompatServer() as server:
        yield server


@pytest.fixture(scope="session")
def labelled_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("labelled") / "words.jsonl"
    path.write_text("".join(json.dumps({"text": w, "label": w.upper()}) + "\n" for w in WORDS))
    return path


@pytest.fixture(scope="session")
def stage_outputs(tmp_path_factory, tiny_causal_lm_dir, echo_teacher, labelled_file):
    """Every stage's output folder, made in process by p2m_lib on the tiny student."""
    root = tmp_path_factory.mktemp("stages")
    teacher = OpenAITeacher(echo_teacher.base_url, "echo", "sk-test")
    quick = get_profile("quick")
    profile = dataclasses.replace(
        quick,
        generation=dataclasses.replace(quick.generation, num_examples=2, max_requests=4),
        train=dataclasses.replace(quick.train, **TINY_TRAINING),
    )
    task = root / "task.json"
    write_json(task, TaskSpec("Write the word in capital letters.", (Example("apple", "APPLE"),)).to_dict())
    generate_stage(task, root / "generated", teacher, profile.generation, 0)
    labelled_stage(task, root / "labelled", LabelledData(labelled_file, "text", "label"))
    process_stage(
        task, root / "generated", root / "data", str(tiny_causal_lm_dir), profile, root / "labelled", 0
    )
    train_stage(
        task, root / "data", str(tiny_causal_lm_dir), profile.train, root / "model", root / "checkpoints"
    )
    evaluate_stage(task, root / "model", root / "data", root / "evaluation", teacher, profile)
    return root


@pytest.fixture
def run_component(tmp_path):
    """Run one component through KFP's local runner, its input artifacts imported from paths.

    Returns a function `(component, artifacts={input: path}, **parameters) -> TaskRun`.
    """
    root = tmp_path / "kfp-root"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))

    def run(component, artifacts=None, **parameters):
        inputs = component.component_spec.inputs or {}

        @dsl.pipeline(name="one-component")
        def one_component():
            imported = {
                name: dsl.importer(
                    artifact_uri=str(path), artifact_class=_artifact_class(inputs[name].type)
                ).output
                for name, path in (artifacts or {}).items()
            }
            component(**imported, **parameters)

        earlier = set(root.iterdir()) if root.exists() else set()
        with warnings.catch_warnings():
            # Our images are not named "python*", which the subprocess runner warns about.
            warnings.filterwarnings("ignore", "You may be attemping", RuntimeWarning)
            one_component()
        (run_dir,) = set(root.iterdir()) - earlier
        folder = run_dir / component.name.replace("_", "-")
        written = json.loads((folder / "executor_output.json").read_text())
        metadata = {name: a["artifacts"][0]["metadata"] for name, a in written.get("artifacts", {}).items()}
        return TaskRun(folder, written.get("parameterValues", {}), metadata)

    return run


@dataclasses.dataclass(frozen=True)
class TaskRun:
    """What one component run left: its folder (output artifacts by name), its parameter outputs
    ("Output" for a return value) and the metadata of its output artifacts."""

    folder: Path
    parameters: dict
    metadata: dict


def _artifact_class(type_name):
    """The dsl artifact class of an input type such as "system.Dataset@0.0.1"."""
    return getattr(dsl, type_name.split("@")[0].removeprefix("system."))
