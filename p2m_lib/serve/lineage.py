"""Lineage of a deployed model: which p2m, run, prompt, training data and teacher made it, and the
promotion gate's numbers, as InferenceService annotations and as a section of the model card.

The same record is collected from a KFP run's artifacts (the deploy step) or from a local run folder
(`p2m deploy RUN_DIR`), and read back from a service's annotations by `p2m status`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import p2m_lib

ANNOTATION_PREFIX = "p2m.dev/"
# Annotation name (after the prefix) of each attribute.
_ANNOTATIONS = {
    "p2m_version": "version",
    "run_id": "run-id",
    "prompt_sha256": "prompt-sha256",
    "training_data_sha256": "training-data-sha256",
    "teacher": "teacher",
    "gate": "gate",
}


@dataclass(frozen=True)
class Lineage:
    """Where a deployed model comes from.

    Attributes:
        p2m_version: The p2m that trained it.
        run_id: The KFP run's id, or the local run folder.
        prompt_sha256: SHA-256 of the user's prompt text (UTF-8).
        training_data_sha256: SHA-256 of the training split (train.jsonl) it learnt from.
        teacher: The teacher that labelled the data and was compared against.
        gate: The promotion gate's numbers (promote 1/0, student and teacher exact match, gain,
            latency) and the test set they were measured on; empty when no gate ran.
    """

    p2m_version: str
    run_id: str
    prompt_sha256: str
    training_data_sha256: str
    teacher: str
    gate: Mapping[str, Any] = field(default_factory=dict)

    def annotations(self) -> dict[str, str]:
        """The record as `p2m.dev/...` annotations (the gate as compact JSON)."""
        values = {**asdict(self), "gate": json.dumps(dict(self.gate), sort_keys=True, separators=(",", ":"))}
        return {ANNOTATION_PREFIX + _ANNOTATIONS[key]: str(value) for key, value in values.items()}

    @classmethod
    def from_annotations(cls, annotations: Mapping[str, str]) -> Lineage | None:
        """The record an InferenceService carries; None when it carries none (deployed otherwise)."""
        names = {attribute: ANNOTATION_PREFIX + name for attribute, name in _ANNOTATIONS.items()}
        if not all(name in annotations for name in names.values()):
            return None
        values = {attribute: annotations[name] for attribute, name in names.items()}
        try:
            gate = json.loads(values["gate"])
        except ValueError:
            gate = {}
        return cls(**{**values, "gate": gate if isinstance(gate, dict) else {}})

    def card_section(self) -> str:
        """The model card's "Lineage" section (Markdown)."""
        gate = dict(self.gate)
        lines = [
            "## Lineage",
            "",
            f"- p2m version: {self.p2m_version}",
            f"- Run: `{self.run_id}`",
            f"- Prompt sha256: `{self.prompt_sha256}`",
            f"- Training data sha256: `{self.training_data_sha256}`",
            f"- Teacher: `{self.teacher}`",
        ]
        if gate:
            decision = "promote" if gate.get("promote") else "do not promote"
            numbers = ", ".join(f"{key} {value:g}" for key, value in gate.items() if isinstance(value, float))
            lines.append(f"- Promotion gate ({gate.get('test_set', '?')}): {decision}; {numbers}")
        return "\n".join(lines) + "\n"


def collect_lineage(
    prompt: str, train_file: Path, teacher: str, gate: Mapping[str, Any] | None, run_id: str
) -> Lineage:
    """The lineage of a model trained on `train_file` from `prompt`.

    Args:
        prompt: The user's prompt text.
        train_file: The training split the model learnt from (data/train.jsonl).
        teacher: The teacher's name.
        gate: gate.json's content (see `p2m_lib.evaluate.gate.GateDecision`); None when no gate ran.
        run_id: The run's id.
    """
    digest = hashlib.sha256()
    with Path(train_file).open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    numbers: dict[str, Any] = {}
    if gate:
        from p2m_lib.evaluate.gate import GateDecision

        decision = GateDecision.from_dict(gate)
        numbers = {**decision.numbers(), "test_set": decision.test_set}
    return Lineage(
        p2m_version=p2m_lib.__version__,
        run_id=run_id,
        prompt_sha256=hashlib.sha256(prompt.encode("utf-8")).hexdigest(),
        training_data_sha256=digest.hexdigest(),
        teacher=teacher,
        gate=numbers,
    )


def run_folder_lineage(run_dir: Path) -> Lineage | None:
    """The lineage of a `p2m run` folder's model; None when `run_dir` is no finished run folder."""
    from p2m_lib.stages import read_json

    run_dir = Path(run_dir)
    files = [run_dir / name for name in ("task.json", "summary.json", "data/train.jsonl")]
    if not all(file.is_file() for file in files):
        return None
    task, summary = read_json(files[0]), read_json(files[1])
    return collect_lineage(
        task["prompt"], files[2], summary["teacher"]["name"], summary.get("gate"), str(run_dir.resolve())
    )


def card_with_lineage(model_dir: Path, lineage: Lineage, scratch: Path) -> Path:
    """The model's card (README.md) with the lineage section appended, written into `scratch`."""
    from p2m_lib.train.card import CARD_FILE

    card = model_dir / CARD_FILE
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    written = scratch / CARD_FILE
    written.write_text(f"{text.rstrip()}\n\n{lineage.card_section()}".lstrip(), encoding="utf-8")
    return written


def artifacts_lineage(task_path: Path, data_dir: Path, evaluation_dir: Path, run_id: str) -> Lineage:
    """The lineage of a KFP run's model, from its parse, process and evaluate artifacts."""
    from p2m_lib.evaluate.gate import GATE_FILE
    from p2m_lib.stages import FOOTPRINT_FILE, read_json

    gate_path = evaluation_dir / GATE_FILE
    return collect_lineage(
        read_json(task_path)["prompt"],
        data_dir / "train.jsonl",
        read_json(evaluation_dir / FOOTPRINT_FILE)["teacher"]["name"],
        read_json(gate_path) if gate_path.is_file() else None,
        run_id,
    )
