"""The index components and the retrieval components that read their indices, through KFP's local runner."""

import json

import pytest

from components.build_dataset_index import build_dataset_index
from components.build_model_index import build_model_index
from components.crawl_hub import crawl_hub
from components.retrieve_datasets import retrieve_datasets
from components.retrieve_model import retrieve_model
from p2m_lib.errors import P2MError
from p2m_lib.index import CatalogEntry

DATASETS = [
    {"name": "acme/capitals", "description": "Words and the same words written in capital letters."},
    {"name": "acme/recipes", "description": "Cooking recipes with ingredients and steps."},
    {"name": "acme/weather", "description": "Daily weather reports for European cities."},
]
MODELS = [
    {
        "name": "acme/capital-writer",
        "description": "Writes words in capital letters.",
        "size_bytes": 100_000_000,
        "downloads": 5000,
    },
    {
        "name": "acme/chef",
        "description": "Generates cooking recipes.",
        "size_bytes": 200_000_000,
        "downloads": 9000,
    },
    {
        "name": "acme/huge",
        "description": "Writes capital letters.",
        "size_bytes": 9_000_000_000,
        "downloads": 10,
    },
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_index_components_and_retrieval(run_component, stage_outputs, tmp_path):
    datasets = run_component(
        build_dataset_index, artifacts={"catalog": write_jsonl(tmp_path / "datasets.jsonl", DATASETS)}
    )
    assert datasets.metadata["index"]["entries"] == 3
    assert datasets.metadata["index"]["kind"] == "datasets"
    models = run_component(
        build_model_index, artifacts={"catalog": write_jsonl(tmp_path / "models.jsonl", MODELS)}
    )
    assert models.metadata["index"]["entries"] == 4  # the embedded student is always indexed

    found = run_component(
        retrieve_datasets,
        artifacts={"task": stage_outputs / "task.json", "index": datasets.folder / "index"},
        top_k=2,
    )
    ranked = json.loads((found.folder / "candidates").read_text())
    assert [hit["name"] for hit in ranked][0] == "acme/capitals"
    assert "| acme/capitals |" in (found.folder / "table").read_text()

    chosen = run_component(
        retrieve_model,
        artifacts={"task": stage_outputs / "task.json", "index": models.folder / "index"},
        max_size_bytes=1_000_000_000,
    )
    assert chosen.parameters["Output"] == "acme/capital-writer"
    listed = [hit["name"] for hit in json.loads((chosen.folder / "candidates").read_text())]
    assert "acme/huge" not in listed


def test_retrieve_model_keeps_the_users_student_and_maps_the_embedded_one(
    run_component, stage_outputs, tmp_path
):
    models = run_component(
        build_model_index, artifacts={"catalog": write_jsonl(tmp_path / "models.jsonl", MODELS)}
    )
    index = models.folder / "index"
    kept = retrieve_model.python_func(
        task=_artifact(stage_outputs / "task.json"),
        index=_artifact(index),
        candidates=_artifact(tmp_path / "c1"),
        table=_artifact(tmp_path / "t1"),
        student="my/student",
    )
    assert kept == "my/student"
    # Only the embedded student (517 MB) fits: the empty name selects it.
    embedded = retrieve_model.python_func(
        task=_artifact(stage_outputs / "task.json"),
        index=_artifact(index),
        candidates=_artifact(tmp_path / "c2"),
        table=_artifact(tmp_path / "t2"),
        max_size_bytes=600_000_000,
        top_k=1,
    )
    assert embedded in {"", "acme/capital-writer", "acme/chef"}
    with pytest.raises(P2MError, match="no model of the index fits"):
        retrieve_model.python_func(
            task=_artifact(stage_outputs / "task.json"),
            index=_artifact(index),
            candidates=_artifact(tmp_path / "c3"),
            table=_artifact(tmp_path / "t3"),
            max_size_bytes=1_000,
        )


def test_crawl_hub_writes_a_catalog_the_index_reads(tmp_path, monkeypatch):
    crawled = [CatalogEntry("hub/a", "first"), CatalogEntry("hub/b", "second")]
    monkeypatch.setattr("p2m_lib.index.crawl_models", lambda limit: iter(crawled[:limit]))
    catalog = _artifact(tmp_path / "catalog")
    crawl_hub.python_func(kind="models", catalog=catalog, limit=1)
    assert catalog.metadata == {"entries": 1}
    assert [json.loads(line)["name"] for line in (tmp_path / "catalog").read_text().splitlines()] == ["hub/a"]
    with pytest.raises(P2MError, match="kind must be one of datasets, models"):
        crawl_hub.python_func(kind="spaces", catalog=_artifact(tmp_path / "other"))


def _artifact(path):
    from kfp import dsl

    return dsl.Artifact(uri=str(path))
