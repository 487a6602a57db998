"""Read input/output pairs from a user's or a retrieved dataset on disk.

Accepted: a JSON Lines, JSON, CSV or Parquet file, or a folder written by `datasets`'
`save_to_disk` (a `DatasetDict` gives its "train" split when it has one, else its first split).
Several input columns become one input of "column: value" lines, as in the paper.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2m_lib.errors import P2MError
from p2m_lib.types import Example

if TYPE_CHECKING:
    from datasets import Dataset

# File suffix -> the `datasets` packaged builder that reads it.
BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
DEFAULT_LIMIT = 3000


def load_pairs(path: Path, input_col: str, output_col: str, limit: int = DEFAULT_LIMIT) -> list[Example]:
    """The first `limit` usable rows of a dataset as examples.

    Args:
        path: A .jsonl/.json/.csv/.parquet file or a `save_to_disk` folder.
        input_col: The input column, or several separated by commas: then the input is one
            "column: value" line per column, joined by newlines.
        output_col: The output column.
        limit: At most this many examples (the paper keeps 3,000 per split).

    Returns:
        Examples in file order; values are converted with `str` and stripped, a missing value
        (None) counts as empty, and rows whose input or output is empty are skipped.

    Raises:
        P2MError: If the path does not exist, its format is not supported, it cannot be read,
            or a column is missing.
    """
    input_cols = [name.strip() for name in input_col.split(",") if name.strip()]
    output_col = output_col.strip()
    if not input_cols or not output_col:
        raise P2MError(f"name the input and output columns to read from {path}")
    dataset = _load_dataset(Path(path))
    columns = list(dict.fromkeys([*input_cols, output_col]))
    _check_columns(dataset.column_names, columns, path)
    return list(_examples(dataset.select_columns(columns), input_cols, output_col, limit))


def _examples(dataset: Dataset, input_cols: list[str], output_col: str, limit: int) -> Iterator[Example]:
    kept = 0
    for row in dataset:
        if kept >= limit:
            return
        example = _example(row, input_cols, output_col)
        if example is not None:
            kept += 1
            yield example


def _example(row: dict[str, Any], input_cols: list[str], output_col: str) -> Example | None:
    """The row as an example, or None when its input or output is empty."""
    values = [_text(row[name]) for name in input_cols]
    output = _text(row[output_col])
    if not any(values) or not output:
        return None
    if len(input_cols) == 1:
        return Example(values[0], output)
    return Example(
        "\n".join(f"{name}: {value}" for name, value in zip(input_cols, values, strict=True)), output
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _check_columns(available: list[str], wanted: list[str], path: Path) -> None:
    missing = [name for name in wanted if name not in available]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        raise P2MError(
            f"{path} has no {noun} {', '.join(map(repr, missing))}; available columns: {', '.join(available)}"
        )


def _load_dataset(path: Path) -> Dataset:
    """The one split to read from `path` (see the module docstring)."""
    import datasets

    if not path.exists():
        raise P2MError(f"dataset {path} does not exist")
    if not path.is_dir() and path.suffix.lower() not in BUILDERS:
        raise P2MError(
            f"cannot read {path}: use a {', '.join(BUILDERS)} file or a folder written by save_to_disk"
        )
    try:
        with _quiet_datasets():
            if path.is_dir():
                loaded = datasets.load_from_disk(str(path))
            else:
                loaded = datasets.load_dataset(BUILDERS[path.suffix.lower()], data_files=str(path))
    # `datasets` raises many types (FileNotFoundError, ArrowInvalid, DatasetGenerationError...).
    except Exception as error:
        raise P2MError(f"cannot read dataset {path}: {error}") from error
    if isinstance(loaded, datasets.DatasetDict):
        if not loaded:
            raise P2MError(f"dataset {path} has no splits")
        return loaded["train"] if "train" in loaded else next(iter(loaded.values()))
    return loaded


@contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Hide `datasets`' tqdm bars (p2m shows its own progress) and restore the setting after."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()
