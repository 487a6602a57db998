"""Reading the user's prompt file, with one-line errors for every way it can be unusable."""

from __future__ import annotations

from pathlib import Path

from p2m_lib.errors import P2MError

MAX_PROMPT_CHARS = 100_000
_MAX_UTF8_BYTES_PER_CHAR = 4


def read_prompt(path: Path) -> str:
    """Read a prompt file as text.

    Args:
        path: The prompt file: UTF-8 text, an instruction and optionally a few demonstrations.

    Returns:
        The text, without a UTF-8 byte order mark and with "\\n" line endings.

    Raises:
        P2MError: The file is missing, a directory, unreadable, binary, empty, whitespace only,
            or longer than MAX_PROMPT_CHARS characters.
    """
    if not path.exists():
        raise P2MError(f"prompt file {path} does not exist")
    if path.is_dir():
        raise P2MError(f"prompt file {path} is a directory; give the path of a text file")
    # A file too big in bytes is too long in characters too: refuse it before reading it all.
    if path.stat().st_size > MAX_PROMPT_CHARS * _MAX_UTF8_BYTES_PER_CHAR:
        raise _too_long(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise P2MError(f"cannot read prompt file {path}: {error.strerror}") from error
    text = _decoded(path, data).replace("\r\n", "\n").replace("\r", "\n")
    if not text:
        raise P2MError(f"prompt file {path} is empty; write what the model should do, then a few examples")
    if not text.strip():
        raise P2MError(f"prompt file {path} holds only whitespace; write what the model should do")
    if len(text) > MAX_PROMPT_CHARS:
        raise _too_long(path)
    return text


def _decoded(path: Path, data: bytes) -> str:
    """`data` as UTF-8 text without its byte order mark; binary data is an error."""
    looks_binary = f"prompt file {path} looks binary, not UTF-8 text; give a plain text file"
    if b"\x00" in data:
        raise P2MError(looks_binary)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise P2MError(looks_binary) from error


def _too_long(path: Path) -> P2MError:
    return P2MError(
        f"prompt file {path} is longer than {MAX_PROMPT_CHARS:,} characters; a prompt is an "
        "instruction and a few demonstrations, not a dataset (pass data with --dataset)"
    )
