"""The model index: BM25 over model cards, with each model's size, downloads and architecture kind."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from p2m_lib.index.bm25 import BM25, BM25_FILES
from p2m_lib.index.catalog import Catalog, CatalogEntry, read_catalog
from p2m_lib.index.manifest import Manifest, load_manifest
from p2m_lib.index.store import ENTRIES_FILE, build_bm25, check_files, prepare_folder, save_entries
from p2m_lib.index.text import clean_card, name_words

KIND = "models"
ENCODER_DECODER = "encoder-decoder"
DECODER_ONLY = "decoder-only"
# Tag of models that need no hub: retrieval lists them whatever their rank.
LOCAL_TAG = "local"
# The student shipped with p2m, indexed with every catalog so that it is scored like the others.
EMBEDDED_STUDENT = CatalogEntry(
    name="SmolLM2-135M-Instruct (embedded)",
    description=(
        "SmolLM2-135M-Instruct: a small 135M-parameter decoder-only language model, instruction tuned, "
        "for text generation, chat, question answering, summarization, rewriting and classification "
        "in English; fine-tunes on a laptop CPU."
    ),
    tags=("text-generation", LOCAL_TAG),
    # Its weights saved as float32 for fine-tuning (DESIGN.md).
    size_bytes=517_000_000,
    downloads=0,
    architecture=DECODER_ONLY,
)
# Model families whose cards name them; everything else on the hub for text generation is decoder-only.
_ENCODER_DECODER_FAMILIES = re.compile(
    r"\b(m?t5|flan-?t5|byt5|ul2|m?bart|pegasus|marian(mt)?|opus-mt|prophetnet|longt5|"
    r"text2text-generation|seq2seq|encoder-decoder)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ModelIndex:
    """A loaded model index; `entries[i]` is row i of the BM25 index."""

    folder: Path
    manifest: Manifest
    entries: tuple[CatalogEntry, ...]
    bm25: BM25


def model_document(entry: CatalogEntry) -> str:
    """The text indexed for a model: its name as words, its cleaned card and its tags."""
    parts = (name_words(entry.name), clean_card(entry.description), " ".join(entry.tags))
    return "\n".join(part for part in parts if part)


def architecture_kind(entry: CatalogEntry) -> str:
    """The entry's architecture when the catalog gives it, else a guess from its name, tags and card."""
    if entry.architecture:
        return entry.architecture
    # Not the card's prose: cards of decoder-only models often mention T5 or BART in passing.
    # Underscores join words for \b, so "Vamsi/T5_Paraphrase" needs them spaced.
    texts = (entry.name.replace("_", " "), " ".join(entry.tags), _front_matter(entry.description))
    return ENCODER_DECODER if any(_ENCODER_DECODER_FAMILIES.search(text) for text in texts) else DECODER_ONLY


def _front_matter(card: str) -> str:
    """The YAML block at the top of a hub model card (tags, pipeline_tag, base model), or ""."""
    if not card.startswith("---"):
        return ""
    return card[3:].split("\n---", 1)[0]


def build_model_index(catalog: Catalog, out: Path) -> Manifest:
    """Build the BM25 index of `catalog`'s model cards, plus the embedded student, and save it in `out`."""
    prepare_folder(out)
    names = {entry.name for entry in catalog.entries}
    local = () if EMBEDDED_STUDENT.name in names else (EMBEDDED_STUDENT,)
    entries = tuple(
        replace(entry, architecture=architecture_kind(entry)) for entry in (*catalog.entries, *local)
    )
    bm25 = build_bm25([model_document(entry) for entry in entries])
    bm25.save(out)
    save_entries(entries, out)
    manifest = Manifest(
        kind=KIND,
        catalog=catalog.source,
        catalog_sha256=catalog.sha256,
        entries=len(entries),
        terms=len(bm25.vocabulary),
    )
    # Written last: a folder whose build was interrupted has no manifest and is refused on load.
    manifest.save(out)
    return manifest


def load_model_index(folder: Path) -> ModelIndex:
    """Load a model index, checking its manifest.

    Raises:
        P2MError: Not a model index, or another format version.
    """
    manifest = load_manifest(folder, KIND)
    check_files(folder, manifest, (ENTRIES_FILE, *BM25_FILES))
    return ModelIndex(folder, manifest, read_catalog(folder / ENTRIES_FILE).entries, BM25.load(folder))
