"""Read input/output pairs from a user's or a retrieved dataset.

Accepted: a JSON Lines, JSON, CSV or Parquet file, a folder written by `datasets`' `save_to_disk`
(a `DatasetDict` gives its "train" split when it has one, else its first split), or a Hugging
Face Hub dataset name (with a configuration), read from the Hub or from `datasets`' cache.
Several input columns become one input of "column: value" lines, as in the paper; class labels
become their names.

JSON, JSON Lines and CSV files are parsed here, not by `datasets`' builders, because those infer
types from the text: an answer "2018-03-20" came back as "2018-03-20 00:00:00" (a timestamp) and
"007" as "7". Here a CSV cell is always the text written, a JSON string stays that string, and a
JSON number or boolean becomes its text.
"""

from __future__ import annotations

import csv
import itertools
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2m_lib.errors import P2MError
from p2m_lib.types import Example

if TYPE_CHECKING:
    from datasets import Dataset

SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
# A JSON Lines or CSV file is read this far, line by line: p2m keeps 3,000 rows of a dataset, and a
# file of millions need not be held in memory.
MAX_FILE_ROWS = 100_000
DEFAULT_LIMIT = 3000


def load_pairs(path: Path, input_col: str, output_col: str, limit: int = DEFAULT_LIMIT) -> list[Example]:
    """The first `limit` usable rows of a dataset on disk as examples.

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
    return dataset_pairs(_load_dataset(Path(path)), input_cols, output_col, limit, str(path))


def open_dataset(source: str, config: str | None = None) -> Dataset:
    """The rows to train on from a local file or folder, else from the Hub dataset of that name.

    Args:
        source: A path (see `load_pairs`) or a Hub name such as "glue" or "user/name".
        config: The Hub dataset's configuration; None for its default.

    Raises:
        P2MError: The path cannot be read, or the Hub dataset cannot be loaded (unreachable Hub
            and not cached, unknown name or configuration, no train split).
    """
    path = Path(source)
    if path.exists():
        return _load_dataset(path)
    import datasets

    try:
        # `datasets` 4 and later never run a dataset's loading script: nothing remote is executed.
        with _quiet_datasets():
            loaded = datasets.load_dataset(source, config)
    # Hub errors come in many types (ConnectionError, DatasetNotFoundError, ValueError...).
    except Exception as error:
        named = f"{source} ({config})" if config else source
        raise P2MError(f"cannot load dataset {named}: {_first_line(error)}") from error
    return _one_split(loaded, source)


def dataset_pairs(
    dataset: Dataset,
    input_cols: list[str],
    output_col: str,
    limit: int = DEFAULT_LIMIT,
    name: str = "dataset",
) -> list[Example]:
    """The first `limit` usable rows of a loaded dataset as examples (see `load_pairs`).

    Raises:
        P2MError: A column is missing; the message names `name` and the available columns.
    """
    columns = list(dict.fromkeys([*input_cols, output_col]))
    _check_columns(dataset.column_names, columns, name)
    rows = dataset.select_columns(columns)
    labels = {column: _label_names(rows.features[column]) for column in columns}
    return list(_examples(rows, input_cols, output_col, labels, limit))


def _examples(
    dataset: Dataset,
    input_cols: list[str],
    output_col: str,
    labels: dict[str, list[str] | None],
    limit: int,
) -> Iterator[Example]:
    kept = 0
    for row in dataset:
        if kept >= limit:
            return
        named = {column: _named(value, labels[column]) for column, value in row.items()}
        example = _example(named, input_cols, output_col)
        if example is not None:
            kept += 1
            yield example


def _label_names(feature: Any) -> list[str] | None:
    """The names of a class-label column (or a sequence of class labels), else None."""
    import datasets

    if isinstance(feature, datasets.Sequence | list):
        feature = feature.feature if isinstance(feature, datasets.Sequence) else feature[0]
    return list(feature.names) if isinstance(feature, datasets.ClassLabel) else None


def _named(value: Any, names: list[str] | None) -> Any:
    """Class-label ids as their names (a label of -1, "no label", as missing)."""
    if names is None:
        return value
    if isinstance(value, list):
        return [_named(item, names) for item in value]
    return names[value] if isinstance(value, int) and 0 <= value < len(names) else None


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
    """A cell as text: a list of tokens or labels joined by spaces; of a QA answer ({"text": [...]}),
    its first text."""
    if value is None:
        return ""
    if isinstance(value, dict) and "text" in value:
        texts = value["text"]
        return _text(texts[0] if isinstance(texts, list) and texts else texts)
    if isinstance(value, list):
        return " ".join(text for text in map(_text, value) if text)
    return str(value).strip()


def _check_columns(available: list[str], wanted: list[str], name: str) -> None:
    missing = [column for column in wanted if column not in available]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        raise P2MError(
            f"{name} has no {noun} {', '.join(map(repr, missing))}; available columns: {', '.join(available)}"
        )


def _load_dataset(path: Path) -> Dataset:
    """The one split to read from `path` (see the module docstring)."""
    import datasets

    if not path.exists():
        raise P2MError(f"dataset {path} does not exist")
    suffix = path.suffix.lower()
    if not path.is_dir() and suffix not in SUFFIXES:
        raise P2MError(
            f"cannot read {path}: use a {', '.join(SUFFIXES)} file or a folder written by save_to_disk"
        )
    try:
        with _quiet_datasets():
            if path.is_dir():
                loaded = datasets.load_from_disk(str(path))
            elif suffix == ".parquet":
                loaded = datasets.load_dataset("parquet", data_files=str(path))
            else:
                rows = _csv_rows(path) if suffix == ".csv" else _json_rows(path)
                columns = list(dict.fromkeys(key for row in rows for key in row))
                loaded = datasets.Dataset.from_dict({key: [row.get(key) for row in rows] for key in columns})
    except P2MError:
        raise
    # `datasets` and Arrow raise many types (FileNotFoundError, ArrowInvalid, UnicodeDecodeError...).
    except Exception as error:
        raise P2MError(f"cannot read dataset {path}: {_first_line(error)}") from error
    return _one_split(loaded, str(path))


def _csv_rows(path: Path) -> list[dict[str, str]]:
    """A CSV file's first `MAX_FILE_ROWS` rows, every cell the text written (a byte-order mark is
    ignored)."""
    csv.field_size_limit(sys.maxsize)  # long documents are legitimate cells
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(itertools.islice(csv.DictReader(handle), MAX_FILE_ROWS))


def _json_rows(path: Path) -> list[dict[str, Any]]:
    """The first `MAX_FILE_ROWS` objects of a JSON Lines file, or of a .json file's array (or of
    the array of objects that is its top-level object's only array, {"version": 2, "data": [...]});
    numbers and booleans as their text."""
    document = _json_document(path) if path.suffix.lower() == ".json" else None
    if document is None:
        document = _json_lines(path)
    rows = []
    for number, row in enumerate(itertools.islice(document, MAX_FILE_ROWS), start=1):
        if not isinstance(row, dict):
            raise P2MError(f"cannot read dataset {path}: row {number} is not a JSON object")
        rows.append({key: _scalar_text(value) for key, value in row.items()})
    return rows


def _json_document(path: Path) -> list[Any] | None:
    """A .json file's rows when it is one JSON document, else None (it may be JSON Lines)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError:
        return None
    if isinstance(document, dict):
        arrays = [value for value in document.values() if isinstance(value, list)]
        document = arrays[0] if len(arrays) == 1 and _is_table(arrays[0]) else document
    return document if isinstance(document, list) else [document]


def _is_table(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _json_lines(path: Path) -> Iterator[Any]:
    """A JSON Lines file's values, read line by line (blank lines skipped)."""
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as error:
                    raise P2MError(
                        f"cannot read dataset {path}: line {number} is not JSON ({error})"
                    ) from error


def _scalar_text(value: Any) -> Any:
    """Numbers and booleans as their JSON text (one column may mix them with strings); strings,
    None and nested values (answer lists, QA answers) as they are."""
    return json.dumps(value) if isinstance(value, int | float) else value


def _one_split(loaded: Any, name: str) -> Dataset:
    """The "train" split of a `DatasetDict`, else its first; a `Dataset` as it is."""
    import datasets

    if isinstance(loaded, datasets.DatasetDict):
        if not loaded:
            raise P2MError(f"dataset {name} has no splits")
        return loaded["train"] if "train" in loaded else next(iter(loaded.values()))
    return loaded


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


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
