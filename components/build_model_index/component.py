"""Build model index: BM25 over a catalog's model cards, with sizes, downloads and architectures."""

from kfp.dsl import Artifact, Dataset, Input, Output

from components.images import p2m_component


@p2m_component()
def build_model_index(catalog: Input[Dataset], index: Output[Artifact]) -> None:
    """Tokenize every model card of the catalog, plus the embedded student.

    Args:
        catalog: A catalog file: a JSON mapping (.json) or JSONL rows (any other name).
        index: The index folder that retrieve_model reads; its manifest is the artifact's metadata.
    """
    from dataclasses import asdict
    from pathlib import Path

    from p2m_lib.index import build_model_index as build
    from p2m_lib.index import read_catalog

    manifest = build(read_catalog(Path(catalog.path)), Path(index.path))
    index.metadata.update(asdict(manifest))
