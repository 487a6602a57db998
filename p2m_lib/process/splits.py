"""Merge generated and retrieved examples and split them into train/val/test JSONL files.

As in the paper, retrieved and generated data are concatenated and shuffled. Each row is a dict
with "input", "output" and "source" ("generated" or "dataset"); written rows also carry
"model_input", the prompt the model reads, so the files show exactly what training and
evaluation see.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from p2m_lib.errors import P2MError
from p2m_lib.process.template import TaskTemplate
from p2m_lib.types import Example

SPLIT_NAMES = ("train", "val", "test")
GENERATED = "generated"
DATASET = "dataset"


def make_splits(
    generated: Sequence[Example],
    retrieved: Sequence[Example],
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> dict[str, list[dict[str, str]]]:
    """Merge, de-duplicate, shuffle and split the examples.

    Args:
        generated: Examples the teacher wrote (source "generated").
        retrieved: Examples from a retrieved or user dataset (source "dataset").
        val_fraction: Share of rows for validation.
        test_fraction: Share of rows for the test split.
        seed: Seed of the shuffle; the same inputs and seed give the same splits.

    Returns:
        {"train": rows, "val": rows, "test": rows}. Each input is kept once, so that no input is
        in two splits: with its first labelled output when a dataset has it (people label better
        than the teacher), else with its first generated one. Val and test get
        round(fraction * rows) rows but at least one each, and train keeps at least one.

    Raises:
        P2MError: If the fractions are out of range or fewer than 3 distinct rows remain.
    """
    _check_fractions(val_fraction, test_fraction)
    rows = _unique_rows(generated, retrieved)
    if len(rows) < 3:
        raise P2MError(
            f"only {len(rows)} distinct example(s); at least 3 are needed for train, val and test splits"
        )
    random.Random(seed).shuffle(rows)
    val_size, test_size = _split_sizes(len(rows), val_fraction, test_fraction)
    return {
        "train": rows[val_size + test_size :],
        "val": rows[test_size : test_size + val_size],
        "test": rows[:test_size],
    }


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise P2MError(
            f"val and test fractions must be in [0, 1) and sum below 1 (got {val_fraction}, {test_fraction})"
        )


def _unique_rows(generated: Sequence[Example], retrieved: Sequence[Example]) -> list[dict[str, str]]:
    tagged = [(e, DATASET) for e in retrieved] + [(e, GENERATED) for e in generated]
    rows: dict[str, dict[str, str]] = {}
    for example, source in tagged:
        rows.setdefault(example.input, {"input": example.input, "output": example.output, "source": source})
    return list(rows.values())


def _split_sizes(total: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """(val, test) sizes: at least 1 each, leaving train at least 1 row (needs total >= 3)."""
    val_size = max(1, round(total * val_fraction))
    test_size = max(1, round(total * test_fraction))
    while val_size + test_size > total - 1:
        if val_size >= test_size:
            val_size -= 1
        else:
            test_size -= 1
    return val_size, test_size


def write_splits(
    splits: dict[str, list[dict[str, str]]], folder: Path, template: TaskTemplate
) -> dict[str, Path]:
    """Write each split as `<name>.jsonl` in `folder`, every row with its `model_input`.

    Args:
        splits: What `make_splits` returned.
        folder: Created if missing; existing split files are replaced.
        template: The template the model will be trained with; renders `model_input`.

    Returns:
        The path of each split's file, by split name.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, rows in splits.items():
        paths[name] = folder / f"{name}.jsonl"
        rows_with_prompts = [{**row, "model_input": template.prompt(row["input"])} for row in rows]
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows_with_prompts)
        paths[name].write_text(text, encoding="utf-8")
    return paths


def read_split(path: Path) -> list[dict[str, Any]]:
    """The rows of one split file written by `write_splits`.

    Raises:
        P2MError: If the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise P2MError(f"split file {path} does not exist")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
