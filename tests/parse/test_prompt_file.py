"""read_prompt: the text of a prompt file, or a one-line error saying what is wrong with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from p2m_lib.errors import P2MError
from p2m_lib.parse import read_prompt


def test_reads_text_without_bom_and_with_unix_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "prompt.txt"
    path.write_bytes("\ufeffÜbersetze.\r\nEingabe: a\rAusgabe: b\r\n".encode())

    assert read_prompt(path) == "Übersetze.\nEingabe: a\nAusgabe: b\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty; write what the model should do, then a few examples"),
        (b" \n\t\r\n", "holds only whitespace; write what the model should do"),
        (b"Translate.\x00\x01", "looks binary, not UTF-8 text; give a plain text file"),
        (b"\xff\xfeT\x00", "looks binary, not UTF-8 text; give a plain text file"),
        (b"caf\xe9 au lait", "looks binary, not UTF-8 text; give a plain text file"),
        ("x" * 100_001, "is longer than 100,000 characters"),
        (b"x" * 400_001, "is longer than 100,000 characters"),
    ],
    ids=["empty", "whitespace", "nul-bytes", "utf16", "latin1", "long-text", "long-file"],
)
def test_unusable_content_is_one_line_error(tmp_path: Path, content: bytes | str, message: str) -> None:
    path = tmp_path / "prompt.txt"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())

    with pytest.raises(P2MError) as raised:
        read_prompt(path)

    assert str(raised.value).startswith(f"prompt file {path} {message}")
    assert "\n" not in str(raised.value)


def test_longest_allowed_prompt_is_read(tmp_path: Path) -> None:
    path = tmp_path / "prompt.txt"
    path.write_text("é" * 100_000, encoding="utf-8")

    assert len(read_prompt(path)) == 100_000


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(P2MError, match=r"^prompt file .*nope\.txt does not exist$"):
        read_prompt(tmp_path / "nope.txt")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(P2MError) as raised:
        read_prompt(tmp_path)

    assert str(raised.value) == f"prompt file {tmp_path} is a directory; give the path of a text file"
