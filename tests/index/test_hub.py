"""The Hugging Face Hub crawler, replaying recorded listing responses instead of the network."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub.hf_api import DatasetInfo, ModelInfo

from p2m_lib.errors import P2MError
from p2m_lib.index import crawl_datasets, crawl_models

RECORDED = Path(__file__).parent / "recorded"


class RecordedHub:
    """Stands in for HfApi: builds the listing objects from JSON the hub's API returns."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def list_datasets(self, **kwargs: Any) -> Iterator[DatasetInfo]:
        self.calls.append(kwargs)
        rows = json.loads((RECORDED / "api_datasets.json").read_text())
        return (DatasetInfo(**row) for row in rows[: kwargs.get("limit")])

    def list_models(self, **kwargs: Any) -> Iterator[ModelInfo]:
        self.calls.append(kwargs)
        rows = json.loads((RECORDED / f"api_models_{kwargs['pipeline_tag']}.json").read_text())
        return (ModelInfo(**row) for row in rows[: kwargs.get("limit")])


class UnreachableHub:
    def list_datasets(self, **kwargs: Any) -> Iterator[DatasetInfo]:
        raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution")
        yield  # a generator, like the real paginated listing


def test_datasets_carry_description_useful_tags_configs_and_columns() -> None:
    hub = RecordedHub()

    imdb, books, empty = crawl_datasets(hub)

    assert imdb.name == "stanfordnlp/imdb"
    assert imdb.description.startswith("Large Movie Review Dataset")
    assert imdb.tags == (
        "task_categories:text-classification",
        "task_ids:sentiment-classification",
        "language:en",
    )
    assert imdb.columns == ("text", "label") and imdb.configs == ("plain_text",)
    assert imdb.downloads == 152347
    assert books.configs == ("de-en", "en-fr") and books.columns == ("id", "translation")
    assert empty.description == "" and empty.columns == ()
    assert "cardData" in hub.calls[0]["expand"] and hub.calls[0]["sort"] == "downloads"


def test_models_carry_size_downloads_architecture_and_card_metadata() -> None:
    gpt2, huge, flan = crawl_models(RecordedHub())

    assert gpt2.size_bytes == 137022720 * 4
    assert huge.size_bytes == 6738415616 * 2
    assert flan.size_bytes == 3962349032  # no safetensors listing: the repository's storage
    assert (gpt2.architecture, flan.architecture) == ("decoder-only", "encoder-decoder")
    assert gpt2.downloads == 24227523
    assert "pipeline: text-generation" in gpt2.description and "datasets: openwebtext" in gpt2.description
    assert "base model: big-lab/huge-7b-base" in huge.description


def test_limit_is_passed_to_each_listing() -> None:
    hub = RecordedHub()

    assert len(list(crawl_models(hub, limit=1))) == 2
    assert {call["limit"] for call in hub.calls} == {1}


def test_an_unreachable_hub_is_one_clear_error() -> None:
    with pytest.raises(P2MError, match="cannot list the Hugging Face Hub.*index a catalog file instead"):
        list(crawl_datasets(UnreachableHub()))  # type: ignore[arg-type]
