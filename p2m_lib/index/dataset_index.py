"""The dataset index: dense embeddings of descriptions in FAISS, plus BM25 over the same text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from p2m_lib.errors import P2MError
from p2m_lib.index.bm25 import BM25, BM25_FILES
from p2m_lib.index.catalog import Catalog, CatalogEntry, read_catalog
from p2m_lib.index.encoder import EMBEDDED_ENCODER, dimension, encode_documents, encode_query, load_encoder
from p2m_lib.index.manifest import Manifest, check_encoder, load_manifest, rebuild_command
from p2m_lib.index.store import ENTRIES_FILE, build_bm25, check_files, prepare_folder, save_entries
from p2m_lib.index.text import name_words

if TYPE_CHECKING:
    import faiss
    from sentence_transformers import SentenceTransformer

KIND = "datasets"
_VECTORS_FILE = "dense.faiss"


@dataclass(frozen=True)
class DatasetIndex:
    """A loaded dataset index; `entries[i]` is row i of both the dense and the BM25 index."""

    folder: Path
    manifest: Manifest
    entries: tuple[CatalogEntry, ...]
    bm25: BM25
    vectors: faiss.Index

    def encoder(self) -> SentenceTransformer:
        """The sentence encoder that built the index (loaded once per process).

        Raises:
            P2MError: The encoder of that name now gives embeddings of another length.
        """
        name = self.manifest.encoder or EMBEDDED_ENCODER
        encoder = load_encoder(name)
        if dimension(encoder) != self.manifest.dimension:
            command = rebuild_command(KIND, self.folder, self.manifest.catalog, name)
            raise P2MError(
                f"the encoder {name!r} now gives {dimension(encoder)}-dimensional embeddings but the index "
                f"{self.folder} holds {self.manifest.dimension}-dimensional ones; rebuild it with `{command}`"
            )
        return encoder

    def dense_search(self, query: str, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """(cosine similarities, entry rows) of the `depth` nearest descriptions, best first."""
        embedding = encode_query(self.encoder(), query)
        similarities, rows = self.vectors.search(embedding, min(depth, len(self.entries)))
        return similarities[0], rows[0]


def dataset_document(entry: CatalogEntry) -> str:
    """The text indexed for a dataset: its name as words, its description and its tags."""
    return "\n".join(
        part for part in (name_words(entry.name), entry.description, " ".join(entry.tags)) if part
    )


def build_dataset_index(catalog: Catalog, out: Path, encoder_name: str = EMBEDDED_ENCODER) -> Manifest:
    """Embed and tokenize every description of `catalog` and save both indices with a manifest in `out`.

    Raises:
        P2MError: The encoder cannot be loaded.
    """
    import faiss

    encoder = load_encoder(encoder_name)
    prepare_folder(out)
    documents = [dataset_document(entry) for entry in catalog.entries]
    bm25 = build_bm25(documents)
    vectors = faiss.IndexFlatIP(dimension(encoder))
    vectors.add(encode_documents(encoder, documents, "encoding dataset descriptions"))
    faiss.write_index(vectors, str(out / _VECTORS_FILE))
    bm25.save(out)
    save_entries(catalog.entries, out)
    manifest = Manifest(
        kind=KIND,
        catalog=catalog.source,
        catalog_sha256=catalog.sha256,
        entries=len(catalog.entries),
        terms=len(bm25.vocabulary),
        encoder=encoder_name,
        dimension=vectors.d,
    )
    # Written last: a folder whose build was interrupted has no manifest and is refused on load.
    manifest.save(out)
    return manifest


def load_dataset_index(folder: Path, encoder_name: str | None = None) -> DatasetIndex:
    """Load a dataset index, checking its manifest.

    Args:
        folder: The index folder.
        encoder_name: The encoder the caller means to query with; None for the index's own.

    Raises:
        P2MError: Not a dataset index, another format version, or built with another encoder.
    """
    import faiss

    manifest = load_manifest(folder, KIND)
    if encoder_name is not None:
        check_encoder(manifest, folder, encoder_name)
    check_files(folder, manifest, (ENTRIES_FILE, *BM25_FILES, _VECTORS_FILE))
    return DatasetIndex(
        folder=folder,
        manifest=manifest,
        entries=read_catalog(folder / ENTRIES_FILE).entries,
        bm25=BM25.load(folder),
        vectors=faiss.read_index(str(folder / _VECTORS_FILE)),
    )
