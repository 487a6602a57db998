"""Indices for the retrieval tests: small catalogs written here, and the shared 2,494-dataset catalog."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from p2m_lib.index import (
    CatalogEntry,
    DatasetIndex,
    ModelIndex,
    build_dataset_index,
    build_model_index,
    catalog_from_entries,
    load_dataset_index,
    load_model_index,
    read_catalog,
)
from p2m_lib.types import Completion, SamplingParams

SHARED_CATALOGS = Path(__file__).resolve().parents[2].parent / "shared" / "catalogs"

SMALL_DATASETS = [
    CatalogEntry(
        "imdb", "Large Movie Review Dataset. A dataset for binary sentiment classification of film reviews."
    ),
    CatalogEntry(
        "cnn_dailymail", "CNN/DailyMail non-anonymized summarization dataset of news articles and highlights."
    ),
    CatalogEntry(
        "squad", "Stanford Question Answering Dataset: reading comprehension questions on Wikipedia."
    ),
    CatalogEntry(
        "opus_books", "A collection of copyright free books aligned for translation, English and French."
    ),
    CatalogEntry("conll2003", "English named entity recognition of persons, locations and organizations."),
    CatalogEntry(
        "afrikaans_ner_corpus", "Afrikaans named entity data annotated with PERSON, LOCATION, ORGANISATION."
    ),
    CatalogEntry("sentiment140", "Twitter messages with emoticons used as noisy labels for sentiment."),
    CatalogEntry("spider", "A large-scale cross-domain semantic parsing and text-to-SQL dataset."),
    CatalogEntry("jiacheng-ye/nl2bash", "The dataset is constructed from the TellinaTool repository."),
    CatalogEntry("gsm8k", "Grade school math word problems with numeric answers."),
]
SMALL_MODELS = [
    CatalogEntry("gpt2", "GPT-2 for English text generation.", size_bytes=548_118_077, downloads=24_227_523),
    CatalogEntry(
        "gpt2-xl", "GPT-2 XL for English text generation.", size_bytes=6_431_878_936, downloads=306_159
    ),
    CatalogEntry("poet/verse-gpt", "Writes poetry and rhyming verse.", size_bytes=510_000_000, downloads=98),
    CatalogEntry("shop/review-writer-1", "Generates product reviews.", size_bytes=510_000_000, downloads=98),
    CatalogEntry(
        "shop/review-writer-2", "Generates product reviews.", size_bytes=510_000_000, downloads=99_998
    ),
    CatalogEntry("mystery/unsized", "Generates product reviews and text.", downloads=5_000_000),
]


class FakeTeacher:
    """A teacher that answers every prompt with `reply` and records the prompts it was sent."""

    name = "fake"

    def __init__(self, reply: str, capable: bool = True) -> None:
        self.reply = reply
        self.capable = capable
        self.prompts: list[str] = []

    def complete(self, prompts: Sequence[str], params: SamplingParams) -> list[Completion]:
        self.prompts.extend(prompts)
        return [Completion(texts=(self.reply,) * params.n) for _ in prompts]


@pytest.fixture
def fake_teacher() -> type[FakeTeacher]:
    """The FakeTeacher class (test modules cannot import from a conftest under importlib mode)."""
    return FakeTeacher


@pytest.fixture(scope="session")
def small_dataset_index(tmp_path_factory: pytest.TempPathFactory) -> DatasetIndex:
    out = tmp_path_factory.mktemp("small-datasets")
    build_dataset_index(catalog_from_entries(SMALL_DATASETS, "small-datasets.jsonl"), out)
    return load_dataset_index(out)


@pytest.fixture(scope="session")
def small_model_index(tmp_path_factory: pytest.TempPathFactory) -> ModelIndex:
    out = tmp_path_factory.mktemp("small-models")
    build_model_index(catalog_from_entries(SMALL_MODELS, "small-models.jsonl"), out)
    return load_model_index(out)


@pytest.fixture(scope="session")
def shared_dataset_index(tmp_path_factory: pytest.TempPathFactory) -> DatasetIndex:
    """The 2,494-dataset catalog, encoded once per session (about a minute and a half on 2 cores)."""
    out = tmp_path_factory.mktemp("shared-datasets")
    build_dataset_index(read_catalog(SHARED_CATALOGS / "hf_datasets_2023.json"), out)
    return load_dataset_index(out)
