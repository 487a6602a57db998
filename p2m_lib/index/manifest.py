"""The small manifest saved with every index: what built it, from what, and how to rebuild it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from p2m_lib.errors import P2MError
from p2m_lib.index.encoder import EMBEDDED_ENCODER

# Bump when what an index holds changes meaning (its files, the indexed text, the encoder's token
# limit, the tokenizer); older indices are then refused with the command that rebuilds them.
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    """What an index folder holds.

    Attributes:
        kind: "datasets" or "models".
        catalog: Where the catalog came from (a path, or "hf-hub" for a crawl).
        catalog_sha256: Checksum of the catalog's bytes (or of the crawled entries).
        entries: How many entries are indexed.
        terms: Size of the BM25 vocabulary.
        encoder: The sentence encoder of the dense index (datasets only).
        dimension: Length of its embeddings (datasets only).
        format_version: The index layout's version.
        created_at: When the index was built (UTC, ISO 8601).
    """

    kind: str
    catalog: str
    catalog_sha256: str
    entries: int
    terms: int
    encoder: str | None = None
    dimension: int | None = None
    format_version: int = FORMAT_VERSION
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def save(self, folder: Path) -> None:
        (folder / MANIFEST_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")


def rebuild_command(kind: str, folder: Path, catalog: str = "CATALOG", encoder: str | None = None) -> str:
    """The exact `p2m index` command that rebuilds `folder` (naming the encoder unless it is the default)."""
    command = f"p2m index {kind} --catalog {catalog} --out {folder}"
    return f"{command} --encoder {encoder}" if encoder and encoder != EMBEDDED_ENCODER else command


def load_manifest(folder: Path, kind: str) -> Manifest:
    """Read and check the manifest of an index of `kind` in `folder`.

    Raises:
        P2MError: No manifest, an unreadable one, another kind of index, or another format version;
            each message ends with the command that (re)builds the index.
    """
    data = _read(folder, kind)
    catalog, encoder = str(data.get("catalog", "CATALOG")), data.get("encoder")
    if data.get("kind") != kind:
        raise P2MError(
            f"{folder} is a {data.get('kind')} index, not a {kind} index; build one into another folder "
            f"with `{rebuild_command(kind, folder, catalog)}`"
        )
    if data.get("format_version") != FORMAT_VERSION:
        raise P2MError(
            f"index {folder} has format version {data.get('format_version')} but this p2m reads version "
            f"{FORMAT_VERSION}; rebuild it with `{rebuild_command(kind, folder, catalog, encoder)}`"
        )
    try:
        return Manifest(**data)
    except TypeError as error:
        raise P2MError(
            f"{folder / MANIFEST_FILE} is damaged ({error}); rebuild the index with "
            f"`{rebuild_command(kind, folder, catalog, encoder)}`"
        ) from None


def check_encoder(manifest: Manifest, folder: Path, encoder: str) -> None:
    """Refuse to query an index with an encoder other than the one that built it.

    Raises:
        P2MError: The encoders differ; the message gives the command that rebuilds the index with `encoder`.
    """
    if manifest.encoder != encoder:
        raise P2MError(
            f"index {folder} was built with the encoder {manifest.encoder!r}, not {encoder!r}; query it "
            f"without --encoder, or rebuild it with "
            f"`{rebuild_command(manifest.kind, folder, manifest.catalog, encoder)}`"
        )


def _read(folder: Path, kind: str) -> dict[str, Any]:
    path = folder / MANIFEST_FILE
    hint = f"build one with `{rebuild_command(kind, folder)}`"
    if not path.is_file():
        raise P2MError(f"{folder} is not a p2m {kind} index (no {MANIFEST_FILE}); {hint}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise P2MError(f"{path} is not JSON ({error.msg}); {hint}") from None
    if not isinstance(data, dict):
        raise P2MError(f"{path} is not a p2m manifest; {hint}")
    return data
