"""Catalog readers: the shared JSON mapping, JSONL rows, malformed rows, empty catalogs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from p2m_lib.errors import P2MError
from p2m_lib.index import CatalogEntry, catalog_from_entries, read_catalog, write_catalog_jsonl

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "catalogs"


def test_json_mapping_takes_tags_configs_and_columns_from_evaluation_metadata(tmp_path: Path) -> None:
    mapping = {
        "imdb": {
            "name": "imdb",
            "description": "Large Movie Review Dataset.",
            "evaluation_metadata": [
                {
                    "config": "plain_text",
                    "task": "text-classification",
                    "task_id": "binary_classification",
                    "col_mapping": {"text": "text", "label": "target"},
                }
            ],
        },
        "aeslc": {"name": "aeslc", "description": "Enron emails.", "evaluation_metadata": {}},
    }
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(mapping))

    catalog = read_catalog(path)

    imdb, aeslc = catalog.entries
    assert imdb == CatalogEntry(
        name="imdb",
        description="Large Movie Review Dataset.",
        tags=("text-classification", "binary_classification"),
        columns=("text", "label"),
        configs=("plain_text",),
        input_columns=("text",),
        output_column="label",
    )
    assert aeslc.tags == () and aeslc.configs == () and aeslc.output_column is None
    assert len(catalog.sha256) == 64 and catalog.source == str(path)


def test_the_column_mapping_comes_from_the_first_mapped_config_and_its_config_goes_first(
    tmp_path: Path,
) -> None:
    metadata = [
        {"config": "plain"},
        {
            "config": "qa",
            "col_mapping": {"question": "question", "context": "context", "answers": {"text": "text"}},
        },
        {"config": "other", "col_mapping": {"sentence": "text", "label": "target"}},
        {"config": "ner", "col_mapping": {"tokens": "tokens", "ner_tags": "tags"}},
    ]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"squadish": {"description": "QA.", "evaluation_metadata": metadata}}))

    (squadish,) = read_catalog(path).entries

    assert squadish.configs == ("qa", "plain", "other", "ner")
    assert squadish.input_columns == ("question", "context")
    assert squadish.output_column == "answers"


def test_the_shared_catalog_maps_columns_of_its_evaluated_datasets() -> None:
    entries = {e.name: e for e in read_catalog(SHARED / "hf_datasets_2023.json").entries}

    assert sum(1 for e in entries.values() if e.output_column) == 59
    assert (entries["glue"].configs[0], entries["glue"].input_columns, entries["glue"].output_column) == (
        "cola",
        ("sentence",),
        "label",
    )
    assert (entries["cnn_dailymail"].input_columns, entries["cnn_dailymail"].output_column) == (
        ("article",),
        "highlights",
    )


def test_jsonl_rows_keep_optional_fields_and_round_trip(tmp_path: Path) -> None:
    entry = CatalogEntry(
        name="org/model",
        description="A card.",
        tags=("text-generation",),
        size_bytes=548_118_077,
        downloads=0,
        architecture="decoder-only",
    )
    dataset = CatalogEntry(
        name="org/qa", description="QA.", input_columns=("question", "context"), output_column="answer"
    )
    path = tmp_path / "models.jsonl"
    write_catalog_jsonl([entry, dataset], path)

    assert read_catalog(path).entries == (entry, dataset)
    assert json.loads(path.read_text().splitlines()[0])["downloads"] == 0


def test_malformed_rows_are_reported_with_their_line_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [
        '{"name": "good", "description": "fine"}',
        "{not json",
        '{"description": "no name"}',
        "",
        '{"name": "big", "description": "x", "size_bytes": -3}',
        '["a", "list"]',
        '{"name": "null-description", "description": null}',
        '{"name": "loop", "description": "x", "input_columns": ["a"], "output_column": "a"}',
    ]
    path = tmp_path / "catalog.jsonl"
    path.write_text("\n".join(rows))

    with caplog.at_level(logging.WARNING):
        catalog = read_catalog(path)

    assert [entry.name for entry in catalog.entries] == ["good", "null-description"]
    warnings = " | ".join(record.getMessage() for record in caplog.records)
    for line in (2, 3, 5, 6, 8):
        assert f"line {line}:" in warnings
    assert "not JSON" in warnings and "`name`" in warnings and "`size_bytes`" in warnings
    assert "`output_column` 'a' is also an input column" in warnings


def test_a_name_seen_twice_keeps_its_first_entry(tmp_path: Path) -> None:
    path = tmp_path / "catalog.jsonl"
    path.write_text('{"name": "a", "description": "first"}\n{"name": "a", "description": "second"}\n')

    assert [entry.description for entry in read_catalog(path).entries] == ["first"]


@pytest.mark.parametrize(
    ("file_name", "text", "message"),
    [
        ("empty.jsonl", "", "holds no usable entry"),
        ("blank.json", "  \n", "holds no usable entry"),
        ("all-bad.jsonl", '{"name": 3}\n', "holds no usable entry"),
        ("list.json", '[{"name": "a", "description": "b"}]', "must be a JSON object keyed by name"),
        ("broken.json", '{"a": ', "is not JSON"),
    ],
)
def test_unusable_catalogs_are_refused(tmp_path: Path, file_name: str, text: str, message: str) -> None:
    path = tmp_path / file_name
    path.write_text(text)

    with pytest.raises(P2MError, match=message):
        read_catalog(path)


def test_a_missing_catalog_is_refused(tmp_path: Path) -> None:
    with pytest.raises(P2MError, match="does not exist"):
        read_catalog(tmp_path / "nope.json")


def test_entries_without_a_file_are_checksummed_by_content() -> None:
    entries = [CatalogEntry("a", "first"), CatalogEntry("b", "second")]

    assert catalog_from_entries(entries, "hf-hub").sha256 == catalog_from_entries(entries, "x").sha256
    assert catalog_from_entries(entries, "hf-hub").sha256 != catalog_from_entries(entries[:1], "x").sha256
    with pytest.raises(P2MError, match="holds no entry"):
        catalog_from_entries([], "hf-hub")


def test_the_shared_catalogs_read_completely() -> None:
    datasets = read_catalog(SHARED / "hf_datasets_2023.json")
    models = read_catalog(SHARED / "hf_models_2023.jsonl")

    assert len(datasets.entries) == 2494
    assert len(models.entries) == 2695
    assert all(entry.size_bytes is not None for entry in models.entries)
