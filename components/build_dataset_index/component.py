"""Build dataset index: dense (FAISS) and BM25 indices over a catalog's dataset descriptions."""

from kfp.dsl import Artifact, Dataset, Input, Output

from components.images import p2m_component


@p2m_component()
def build_dataset_index(catalog: Input[Dataset], index: Output[Artifact], encoder: str = "") -> None:
    """Embed and tokenize every dataset description of the catalog.

    Args:
        catalog: A catalog file: a JSON mapping (.json) or JSONL rows (any other name).
        index: The index folder that retrieve_datasets reads; its manifest is the artifact's metadata.
        encoder: Sentence encoder (a local model folder or hub name); empty for the embedded MiniLM.
    """
    from dataclasses import asdict
    from pathlib import Path

    from p2m_lib.index import EMBEDDED_ENCODER, read_catalog
    from p2m_lib.index import build_dataset_index as build

    manifest = build(read_catalog(Path(catalog.path)), Path(index.path), encoder or EMBEDDED_ENCODER)
    index.metadata.update(asdict(manifest))
