"""The generator's two append-only files: every reply and every accepted example, flushed as written.

`raw.jsonl` holds every teacher reply with its prompt, temperature, usage and what was accepted;
`examples.jsonl` every accepted example. A kill can cut a last line short: readers skip it and
writers first drop it, so that the next row is not glued to a broken one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from p2m_lib.types import Example

RAW_FILE = "raw.jsonl"
EXAMPLES_FILE = "examples.jsonl"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file; a last line cut off by a kill is ignored."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def open_for_append(path: Path) -> IO[str]:
    """Open `path` to append lines, first dropping a last line that a kill cut short.

    Without that, the next row would be glued to the broken one and be unreadable too.
    """
    if path.exists():
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            with path.open("r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)
    return path.open("a", encoding="utf-8")


class Journal:
    """The two append-only files, open for the whole run; every row is flushed as it is written."""

    def __init__(self, folder: Path) -> None:
        self._raw = open_for_append(folder / RAW_FILE)
        self._examples = open_for_append(folder / EXAMPLES_FILE)

    def reply(self, row: dict[str, Any]) -> None:
        write_line(self._raw, row)

    def example(self, example: Example) -> None:
        write_line(self._examples, example.to_dict())

    def close(self) -> None:
        self._raw.close()
        self._examples.close()


def write_line(handle: IO[str], row: dict[str, Any]) -> None:
    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    # Flushed to the OS at once: a killed process loses nothing it has written.
    handle.flush()
