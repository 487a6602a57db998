"""What the dataset and model indices share on disk: the entries file, the folder, the BM25 build."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from p2m_lib.errors import P2MError
from p2m_lib.index.bm25 import BM25
from p2m_lib.index.catalog import CatalogEntry, write_catalog_jsonl
from p2m_lib.index.manifest import MANIFEST_FILE, Manifest, rebuild_command
from p2m_lib.index.text import tokenize
from p2m_lib.progress import progress_bar

ENTRIES_FILE = "entries.jsonl"


def prepare_folder(out: Path) -> None:
    """Create `out`, and drop an old manifest so that a half-rebuilt index is never loaded.

    Raises:
        P2MError: `out` exists and is not a folder.
    """
    if out.exists() and not out.is_dir():
        raise P2MError(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST_FILE).unlink(missing_ok=True)


def check_files(folder: Path, manifest: Manifest, names: Sequence[str]) -> None:
    """Refuse an index folder that lost some of its files.

    Raises:
        P2MError: A file is missing; the message gives the command that rebuilds the index.
    """
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        command = rebuild_command(manifest.kind, folder, manifest.catalog, manifest.encoder)
        raise P2MError(f"index {folder} is incomplete (no {', '.join(missing)}); rebuild it with `{command}`")


def save_entries(entries: Sequence[CatalogEntry], out: Path) -> None:
    write_catalog_jsonl(entries, out / ENTRIES_FILE)


def build_bm25(documents: Sequence[str]) -> BM25:
    """Tokenize the documents (with a progress bar) and build their BM25 index."""
    tokenized = []
    with progress_bar("tokenizing for BM25", total=len(documents)) as bar:
        for document in documents:
            tokenized.append(tokenize(document))
            bar.update(0, advance=1)
    return BM25.build(tokenized)
