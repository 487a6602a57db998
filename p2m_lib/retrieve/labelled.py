"""Use what dataset retrieval found: pick a dataset, its configuration and columns, and read its rows.

The paper asks the user to choose; p2m chooses on its own unless told. The dataset is the one
the user names, else the best-ranked candidate that loads and has usable columns. Its columns
come, in this order, from the user, from the catalog's column mapping, from a capable teacher
(validated: the input columns exist, exactly one other column is the output), or from
conventional column names (text/label, question/answer...). A candidate that fails is skipped
with a warning naming it; a dataset the user named that fails is an error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from p2m_lib.errors import P2MError
from p2m_lib.index.catalog import CatalogEntry
from p2m_lib.llm.base import first_json_object
from p2m_lib.process.datasets import DEFAULT_LIMIT, dataset_pairs, open_dataset
from p2m_lib.types import Example, SamplingParams, TaskSpec

if TYPE_CHECKING:
    from datasets import Dataset

    from p2m_lib.llm.base import Teacher

log = logging.getLogger(__name__)

# How many candidates are tried, best first, before giving up on retrieved data.
MAX_TRIES = 5
# Conventional names, most telling first: the output column is the first one present, the inputs
# are all present input names (in the dataset's column order).
OUTPUT_NAMES = (
    "output", "target", "label", "labels", "answer", "answers", "summary", "highlights",
    "response", "completion", "sentiment", "category", "class", "ner_tags", "tags",
)  # fmt: skip
INPUT_NAMES = (
    "input", "text", "sentence", "sentence1", "sentence2", "question", "context", "passage",
    "document", "article", "source", "prompt", "query", "review", "content", "premise",
    "hypothesis", "tweet", "claim", "statement", "title", "tokens",
)  # fmt: skip
_SAMPLE_ROWS = 3
_SAMPLE_CHARS = 200
_COLUMNS_PROMPT = """You are preparing training data for this task: {instruction}
{demonstrations}
The dataset "{name}" has the columns: {columns}. Its first rows:
{rows}

Which columns hold what the task reads, and which one column holds what it must produce? Reply \
with JSON only, for example {{"input_columns": ["question", "context"], "output_column": "answer"}}.
"""


@dataclass(frozen=True)
class ColumnChoice:
    """Which columns of a dataset make an example.

    Attributes:
        input_columns: Read as the input ("column: value" lines when there are several).
        output_column: Read as the output.
        source: Where the choice came from: user, catalog, teacher or column names.
    """

    input_columns: tuple[str, ...]
    output_column: str
    source: str = "user"

    @classmethod
    def parse(cls, spec: str) -> ColumnChoice:
        """Read "in1,in2->out" (the form of `--retrieved-columns`).

        Raises:
            P2MError: The spec lacks "->", an input or the output.
        """
        inputs, arrow, output = spec.partition("->")
        names = tuple(name.strip() for name in inputs.split(",") if name.strip())
        if not arrow or not names or not output.strip():
            raise P2MError(
                f"columns {spec!r} must read INPUT[,INPUT...]->OUTPUT, e.g. question,context->answer"
            )
        return cls(names, output.strip(), "user")

    def fits(self, columns: Sequence[str]) -> bool:
        """Whether every named column exists and the output is not also an input."""
        named = (*self.input_columns, self.output_column)
        return all(name in columns for name in named) and self.output_column not in self.input_columns


@dataclass(frozen=True)
class RetrievedData:
    """The retrieved dataset that was used and the examples read from it."""

    name: str
    config: str | None
    columns: ColumnChoice
    examples: tuple[Example, ...]

    def describe(self) -> dict[str, Any]:
        """What summary.json says about it."""
        return {
            "name": self.name,
            "config": self.config,
            "input_columns": list(self.columns.input_columns),
            "output_column": self.columns.output_column,
            "columns_from": self.columns.source,
            "examples": len(self.examples),
        }


def use_retrieved_dataset(
    candidates: Sequence[CatalogEntry],
    task: TaskSpec,
    teacher: Teacher | None = None,
    pick: str = "",
    columns: str = "",
    limit: int = DEFAULT_LIMIT,
) -> RetrievedData | None:
    """Examples from the first usable dataset among `candidates` (best first), or from `pick`.

    Args:
        candidates: Retrieved catalog entries, best first.
        task: The parsed task: the teacher sees its instruction and demonstrations.
        teacher: Asked for the columns when it is `capable` and the catalog has no mapping.
        pick: "NAME" or "NAME:CONFIG": use this dataset (a Hub name or a local path) instead.
        columns: "in1,in2->out": use these columns instead of choosing them.
        limit: At most this many examples (the paper keeps 3,000 per split).

    Returns:
        The dataset used and its examples; None when no candidate was usable (each skipped one
        is named in a warning).

    Raises:
        P2MError: `pick` or `columns` is malformed, or the picked dataset cannot be used.
    """
    chosen_columns = ColumnChoice.parse(columns) if columns else None
    if pick:
        name, _, config = pick.partition(":")
        entry = next((c for c in candidates if c.name == name), CatalogEntry(name=name, description=""))
        return _use(entry, config or None, task, teacher, chosen_columns, limit)
    for entry in candidates[:MAX_TRIES]:
        try:
            return _use(entry, _default_config(entry), task, teacher, chosen_columns, limit)
        except P2MError as problem:
            log.warning("retrieved dataset %s skipped: %s", entry.name, problem)
    if candidates:
        log.warning("none of the %d best retrieved datasets was usable", min(len(candidates), MAX_TRIES))
    return None


def _default_config(entry: CatalogEntry) -> str | None:
    """The catalog's first configuration (the one its column mapping belongs to), except "default"."""
    config = entry.configs[0] if entry.configs else None
    return None if config == "default" else config


def _use(
    entry: CatalogEntry,
    config: str | None,
    task: TaskSpec,
    teacher: Teacher | None,
    columns: ColumnChoice | None,
    limit: int,
) -> RetrievedData:
    dataset = open_dataset(entry.name, config)
    choice = columns or choose_columns(entry, dataset, task, teacher)
    if choice is None:
        raise P2MError(
            f"no usable input and output columns among {', '.join(dataset.column_names)}; "
            "name them with --retrieved-columns IN[,IN...]->OUT"
        )
    examples = dataset_pairs(dataset, list(choice.input_columns), choice.output_column, limit, entry.name)
    if not examples:
        raise P2MError(f"no row has both {', '.join(choice.input_columns)} and {choice.output_column}")
    log.info(
        "using %d examples of %s (%s -> %s, columns from %s)",
        len(examples),
        entry.name,
        ", ".join(choice.input_columns),
        choice.output_column,
        choice.source,
    )
    return RetrievedData(entry.name, config, choice, tuple(examples))


def choose_columns(
    entry: CatalogEntry, dataset: Dataset, task: TaskSpec, teacher: Teacher | None
) -> ColumnChoice | None:
    """The columns from the catalog's mapping, else a capable teacher, else conventional names."""
    available = dataset.column_names
    if entry.output_column:
        mapped = ColumnChoice(entry.input_columns, entry.output_column, "catalog")
        if mapped.fits(available):
            return mapped
        log.warning("%s: the catalog's column mapping does not match its columns %s", entry.name, available)
    if teacher is not None and teacher.capable:
        asked = ask_teacher_for_columns(teacher, task, entry.name, dataset)
        if asked is not None:
            return asked
    return columns_by_name(available)


def ask_teacher_for_columns(
    teacher: Teacher, task: TaskSpec, name: str, dataset: Dataset
) -> ColumnChoice | None:
    """The teacher's choice of columns, or None when its reply is unusable or it fails."""
    try:
        reply = teacher.complete(
            [columns_prompt(task, name, dataset)],
            SamplingParams(n=1, temperature=0.0, max_tokens=96, instruction=True),
        )[0].texts
    except P2MError as error:
        log.warning("%s: the teacher could not be asked for columns (%s)", name, error)
        return None
    choice = columns_from_reply(reply[0] if reply else "", dataset.column_names)
    if choice is None:
        log.warning(
            "%s: the teacher's choice of columns was unusable: %r", name, reply[0][:200] if reply else ""
        )
    return choice


def columns_prompt(task: TaskSpec, name: str, dataset: Dataset) -> str:
    """The question put to the teacher: the task, the dataset's columns and its first rows."""
    demonstrations = "\n".join(f"Input: {e.input}\nOutput: {e.output}" for e in task.examples[:2])
    rows = "\n".join(
        json.dumps({column: str(value)[:_SAMPLE_CHARS] for column, value in row.items()}, ensure_ascii=False)
        for row in dataset.select(range(min(_SAMPLE_ROWS, len(dataset))))
    )
    return _COLUMNS_PROMPT.format(
        instruction=task.instruction,
        demonstrations=f"Examples of the task:\n{demonstrations}\n" if demonstrations else "",
        name=name,
        columns=", ".join(dataset.column_names),
        rows=rows,
    )


def columns_from_reply(reply: str, available: Sequence[str]) -> ColumnChoice | None:
    """The choice in a reply like {"input_columns": [...], "output_column": "..."}, if it fits."""
    value = first_json_object(reply) or {}
    inputs, output = value.get("input_columns"), value.get("output_column")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
        return None
    if not isinstance(output, str):
        return None
    choice = ColumnChoice(tuple(dict.fromkeys(inputs)), output, "teacher")
    return choice if choice.fits(available) else None


def columns_by_name(available: Sequence[str]) -> ColumnChoice | None:
    """Inputs and output recognised by their conventional names, or None."""
    output = next((name for name in OUTPUT_NAMES if name in available), None)
    inputs = tuple(name for name in available if name in INPUT_NAMES and name != output)
    return ColumnChoice(inputs, output, "column names") if output and inputs else None
