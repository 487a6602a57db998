"""`p2m status`: one row per task from what each source knows about it.

The latest KFP run and its state come from the KFP API; the student's and the teacher's scores and
the gate's decision from the task's local run folder (summary.json) when there is one, else from
the lineage annotations of its InferenceService; the endpoint (Ready, URL, traffic split between
revisions) from the Kubernetes API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from p2m_lib.serve.rollout import ServiceState


@dataclass(frozen=True)
class TaskStatus:
    """What is known about one task.

    Attributes:
        task: The task's name.
        run: The latest KFP run: id, name, state, created_at; None when none is known.
        student_exact_match: The student's exact match on the gate's test set.
        teacher_exact_match: The prompted teacher's there.
        promote: The gate's decision; None when unknown.
        scores_from: Where the scores and the decision come from: "run folder" or "service".
        endpoint: The InferenceService; None when there is none (or Kubernetes was not asked).
    """

    task: str
    run: Mapping[str, str] | None
    student_exact_match: float | None
    teacher_exact_match: float | None
    promote: bool | None
    scores_from: str | None
    endpoint: ServiceState | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "run": dict(self.run) if self.run else None,
            "student_exact_match": self.student_exact_match,
            "teacher_exact_match": self.teacher_exact_match,
            "promote": self.promote,
            "scores_from": self.scores_from,
            "endpoint": self.endpoint.to_dict() if self.endpoint else None,
        }

    def cells(self) -> list[str]:
        """The task's row of the status table."""
        endpoint = self.endpoint

        def score(value: float | None) -> str:
            return "—" if value is None else f"{value:.1f}"

        return [
            self.task,
            self.run["run_name"] if self.run else "—",
            self.run["state"] if self.run else "—",
            score(self.student_exact_match),
            score(self.teacher_exact_match),
            {True: "promote", False: "held back", None: "—"}[self.promote],
            "—" if endpoint is None else ("Ready" if endpoint.ready else "not ready"),
            endpoint.url if endpoint else "",
            endpoint.split() if endpoint else "",
        ]


COLUMNS = ("task", "latest run", "state", "student EM", "teacher EM", "gate", "endpoint", "URL", "traffic")


def task_status(
    task: str,
    run: Mapping[str, str] | None,
    summary: Mapping[str, Any] | None,
    endpoint: ServiceState | None,
) -> TaskStatus:
    """One task's row from its latest run, its run folder's summary.json and its service."""
    gate: Mapping[str, Any] = {}
    scores_from = None
    if summary and summary.get("gate"):
        gate, scores_from = summary["gate"], "run folder"
    elif endpoint and endpoint.lineage and endpoint.lineage.gate:
        gate, scores_from = endpoint.lineage.gate, "service"
    promote = gate.get("promote")
    return TaskStatus(
        task=task,
        run=run,
        student_exact_match=gate.get("student_exact_match"),
        teacher_exact_match=gate.get("teacher_exact_match"),
        promote=None if promote is None else bool(promote),
        scores_from=scores_from,
        endpoint=endpoint,
    )
