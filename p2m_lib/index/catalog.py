"""Catalogs of datasets or models: what the indices are built from.

Two file layouts are read: the JSON mapping of `../shared/catalogs/hf_datasets_2023.json`
(`{name: {name, description, evaluation_metadata}}`) and JSONL rows (`name`, `description`,
optional `tags`, `size_bytes`, `downloads`, `columns`, `configs`, `architecture`, and a column
mapping: `input_columns`, `output_column`). The Hugging Face Hub crawler in `p2m_lib.index.hub`
yields the same entries.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from p2m_lib.errors import P2MError

log = logging.getLogger(__name__)

_LIST_FIELDS = ("tags", "columns", "configs", "input_columns")
# Roles of the hub's evaluation_metadata col_mapping that name the column a model must produce.
_OUTPUT_ROLES = ("target", "tags")
_COUNT_FIELDS = ("size_bytes", "downloads")


@dataclass(frozen=True)
class CatalogEntry:
    """One dataset or model as a catalog describes it.

    Attributes:
        name: The dataset's or model's hub name, unique in a catalog.
        description: Free text (a dataset description or a model card); may be empty.
        tags: Task ids, pipeline tags and the like.
        size_bytes: Size of the model's weights, when known.
        downloads: Downloads on the hub, when known.
        columns: Dataset columns, when known.
        configs: Dataset configurations, when known.
        architecture: "encoder-decoder" or "decoder-only" for a model, when known.
        input_columns: The dataset columns a model reads, when the catalog maps them; they
            belong to the first of `configs`.
        output_column: The dataset column a model must produce, when the catalog maps it.
    """

    name: str
    description: str
    tags: tuple[str, ...] = ()
    size_bytes: int | None = None
    downloads: int | None = None
    columns: tuple[str, ...] = ()
    configs: tuple[str, ...] = ()
    architecture: str | None = None
    input_columns: tuple[str, ...] = ()
    output_column: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The entry as a JSONL catalog row (lists instead of tuples, None fields left out)."""
        row: dict[str, Any] = {"name": self.name, "description": self.description}
        for field in (*_LIST_FIELDS, *_COUNT_FIELDS, "architecture", "output_column"):
            value = getattr(self, field)
            if value:
                row[field] = list(value) if isinstance(value, tuple) else value
            elif value == 0:
                row[field] = value
        return row


@dataclass(frozen=True)
class Catalog:
    """The entries of one catalog and the checksum of what they were read from."""

    entries: tuple[CatalogEntry, ...]
    sha256: str
    source: str


def read_catalog(path: Path) -> Catalog:
    """Read a JSON mapping (`.json`) or a JSONL file (any other suffix) of catalog entries.

    Malformed rows are reported with their line (or key) in a warning and skipped; a name seen
    twice keeps its first entry.

    Raises:
        P2MError: The file is missing, is not the layout its suffix says, or holds no usable entry.
    """
    if not path.is_file():
        raise P2MError(f"catalog {path} does not exist")
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    rows = _json_mapping_rows(text, path) if path.suffix == ".json" else _jsonl_rows(text)
    entries = _unique(_valid_entries(rows, path))
    if not entries:
        raise P2MError(f"catalog {path} holds no usable entry (each needs a `name` and a `description`)")
    return Catalog(tuple(entries), hashlib.sha256(raw).hexdigest(), str(path))


def catalog_from_entries(entries: Iterable[CatalogEntry], source: str) -> Catalog:
    """A catalog of entries that did not come from a file (a hub crawl), checksummed by content."""
    unique = tuple(_unique(entries))
    if not unique:
        raise P2MError(f"catalog {source} holds no entry")
    digest = hashlib.sha256()
    for entry in unique:
        digest.update(json.dumps(entry.to_dict(), sort_keys=True).encode())
    return Catalog(unique, digest.hexdigest(), source)


def write_catalog_jsonl(entries: Iterable[CatalogEntry], path: Path) -> None:
    """Write entries as JSONL rows that `read_catalog` reads back (a crawl saved as a catalog file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for entry in entries:
            out.write(json.dumps(entry.to_dict(), ensure_ascii=False) + "\n")


def _jsonl_rows(text: str) -> Iterator[tuple[str, Any]]:
    """(where, parsed row) for every non-blank line; an unparsable line yields its error text."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", json.loads(line)
        except json.JSONDecodeError as error:
            yield f"line {number}", f"not JSON ({error.msg})"


def _json_mapping_rows(text: str, path: Path) -> Iterator[tuple[str, Any]]:
    """(where, row) for every value of a `{name: row}` mapping, with the name filled in."""
    try:
        mapping = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as error:
        raise P2MError(f"catalog {path} is not JSON (line {error.lineno}: {error.msg})") from None
    if not isinstance(mapping, dict):
        raise P2MError(f"catalog {path} must be a JSON object keyed by name (or use a .jsonl file)")
    for key, row in mapping.items():
        yield f"key {key!r}", {"name": key, **row} if isinstance(row, dict) else row


def _valid_entries(rows: Iterable[tuple[str, Any]], path: Path) -> Iterator[CatalogEntry]:
    for where, row in rows:
        try:
            yield entry_from_row(row)
        except ValueError as problem:
            log.warning("catalog %s, %s: %s; skipped", path, where, problem)


def entry_from_row(row: Any) -> CatalogEntry:
    """Validate one catalog row (a parsed JSON object); raises ValueError saying what is wrong with it."""
    if isinstance(row, str):
        raise ValueError(row)
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    name = row.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("`name` must be a non-empty string")
    if "description" not in row:
        raise ValueError("`description` is missing")
    description = row["description"]
    if description is not None and not isinstance(description, str):
        raise ValueError("`description` must be a string or null")
    metadata = _evaluation_metadata(row.get("evaluation_metadata"))
    input_columns = _strings(row, "input_columns") or metadata["input_columns"]
    output_column = _optional_string(row, "output_column") or metadata["output_column"]
    if output_column in input_columns:
        raise ValueError(f"`output_column` {output_column!r} is also an input column")
    return CatalogEntry(
        name=name.strip(),
        description=description or "",
        tags=_strings(row, "tags") + metadata["tags"],
        size_bytes=_count(row, "size_bytes"),
        downloads=_count(row, "downloads"),
        columns=_strings(row, "columns") + metadata["columns"],
        configs=_strings(row, "configs") + metadata["configs"],
        architecture=_architecture(row.get("architecture")),
        input_columns=input_columns,
        output_column=output_column,
    )


def _strings(row: dict[str, Any], field: str) -> tuple[str, ...]:
    value = row.get(field) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"`{field}` must be a list of strings")
    return tuple(value)


def _optional_string(row: dict[str, Any], field: str) -> str | None:
    value = row.get(field)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValueError(f"`{field}` must be a non-empty string")
    return value


def _count(row: dict[str, Any], field: str) -> int | None:
    value = row.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"`{field}` must be a non-negative integer")
    return value


def _architecture(value: Any) -> str | None:
    if value in (None, "encoder-decoder", "decoder-only"):
        return value
    raise ValueError("`architecture` must be 'encoder-decoder' or 'decoder-only'")


def _evaluation_metadata(metadata: Any) -> dict[str, Any]:
    """Task ids, columns, configs and a column mapping from the hub's `evaluation_metadata` list.

    The mapping is the first item's `col_mapping` (dataset column -> role): roles "target" and
    "tags", and a nested mapping (a QA answer's fields), name the output; the others are inputs.
    Its config comes first in `configs`.
    """
    found: dict[str, dict[str, None]] = {"tags": {}, "columns": {}, "configs": {}}
    mapping: dict[str, Any] = {"input_columns": (), "output_column": None}
    for item in metadata if isinstance(metadata, list) else []:
        if not isinstance(item, dict):
            continue
        for field, key in (("tags", "task"), ("tags", "task_id"), ("configs", "config")):
            if isinstance(item.get(key), str):
                found[field][item[key]] = None
        col_mapping = item.get("col_mapping")
        if isinstance(col_mapping, dict):
            found["columns"].update(dict.fromkeys(col_mapping))
            if mapping["output_column"] is None:
                mapping = _column_roles(col_mapping)
                if mapping["output_column"] and isinstance(item.get("config"), str):
                    found["configs"] = {item["config"]: None, **found["configs"]}
    return {**{field: tuple(values) for field, values in found.items()}, **mapping}


def _column_roles(col_mapping: dict[str, Any]) -> dict[str, Any]:
    outputs = [
        column for column, role in col_mapping.items() if isinstance(role, dict) or role in _OUTPUT_ROLES
    ]
    if len(outputs) != 1:
        return {"input_columns": (), "output_column": None}
    return {
        "input_columns": tuple(column for column in col_mapping if column != outputs[0]),
        "output_column": outputs[0],
    }


def _unique(entries: Iterable[CatalogEntry]) -> list[CatalogEntry]:
    seen: dict[str, CatalogEntry] = {}
    for entry in entries:
        if entry.name in seen:
            log.warning("catalog: %s appears more than once; the first entry is kept", entry.name)
            continue
        seen[entry.name] = entry
    return list(seen.values())
