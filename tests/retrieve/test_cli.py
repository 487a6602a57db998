"""`p2m index ...` and `p2m retrieve ...` on small catalogs, through typer's test runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from p2m_lib.cli.retrieval import index_app, retrieve_app
from p2m_lib.index import EMBEDDED_ENCODER

DATASET_MAPPING = {
    "imdb": {"name": "imdb", "description": "Movie reviews labelled positive or negative for sentiment."},
    "squad": {"name": "squad", "description": "Questions about Wikipedia paragraphs with answer spans."},
    "aeslc": {"name": "aeslc", "description": "Emails of Enron employees with their subject lines."},
}
MODEL_ROWS = [
    {"name": "gpt2", "description": "GPT-2 text generation", "size_bytes": 548118077, "downloads": 24227523},
    {"name": "big/model", "description": "text generation", "size_bytes": 13317059541, "downloads": 9},
    "{broken",
]

runner = CliRunner()


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("catalogs")
    (folder / "datasets.json").write_text(json.dumps(DATASET_MAPPING))
    lines = [row if isinstance(row, str) else json.dumps(row) for row in MODEL_ROWS]
    (folder / "models.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "prompt.txt").write_text(
        "Write a subject line for the email.\n\nEmail: Lunch moved to 1pm.\nSubject: Lunch"
    )
    (folder / "empty.txt").write_text("\n  \n")
    return folder


@pytest.fixture(scope="module")
def dataset_index(catalogs: Path) -> Path:
    out = catalogs / "datasets-index"
    result = runner.invoke(
        index_app, ["datasets", "--catalog", str(catalogs / "datasets.json"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "indexed 3 datasets" in result.output
    return out


@pytest.fixture(scope="module")
def model_index(catalogs: Path) -> Path:
    out = catalogs / "models-index"
    result = runner.invoke(
        index_app, ["models", "--catalog", str(catalogs / "models.jsonl"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "indexed 3 models" in result.output  # two rows and the embedded student; the broken row skipped
    return out


def test_retrieve_datasets_prints_a_json_list_best_first(dataset_index: Path, catalogs: Path) -> None:
    result = runner.invoke(
        retrieve_app,
        ["datasets", "--index", str(dataset_index), "--prompt-file", str(catalogs / "prompt.txt")]
        + ["--top-k", "2", "--json", "--teacher", "none"],
    )

    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [set(row) for row in rows] == [{"name", "score", "description"}] * 2
    assert rows[0]["name"] == "aeslc" and rows[0]["score"] >= rows[1]["score"]


def test_retrieve_datasets_prints_a_table_without_json(dataset_index: Path, catalogs: Path) -> None:
    result = runner.invoke(
        retrieve_app, ["datasets", "--index", str(dataset_index), "-p", str(catalogs / "prompt.txt")]
    )

    assert result.exit_code == 0, result.output
    assert "aeslc" in result.output and "description" in result.output


def test_retrieve_models_lists_nothing_over_the_size_limit(model_index: Path, catalogs: Path) -> None:
    result = runner.invoke(
        retrieve_app,
        ["models", "--index", str(model_index), "--prompt-file", str(catalogs / "prompt.txt")]
        + ["--top-k", "5", "--json", "--max-size-bytes", "1000000000"],
    )

    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert all(set(row) == {"name", "score", "size_bytes", "downloads"} for row in rows)
    assert all(row["size_bytes"] <= 1_000_000_000 for row in rows)
    assert rows[-1]["name"] == "SmolLM2-135M-Instruct (embedded)"


def test_an_empty_prompt_file_is_one_clear_error(dataset_index: Path, catalogs: Path) -> None:
    result = runner.invoke(
        retrieve_app,
        ["datasets", "--index", str(dataset_index), "--prompt-file", str(catalogs / "empty.txt")],
    )

    assert result.exit_code == 2
    assert "is empty" in result.output


def test_an_index_from_another_encoder_tells_how_to_rebuild(dataset_index: Path, catalogs: Path) -> None:
    result = runner.invoke(
        retrieve_app,
        [
            "datasets",
            "--index",
            str(dataset_index),
            "-p",
            str(catalogs / "prompt.txt"),
            "--encoder",
            "other/encoder",
        ],
    )

    assert result.exit_code == 2
    catalog = catalogs / "datasets.json"
    rebuild = f"p2m index datasets --catalog {catalog} --out {dataset_index} --encoder other/encoder"
    assert rebuild in " ".join(result.output.split())
    assert EMBEDDED_ENCODER in result.output


def test_indexing_an_empty_catalog_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("")

    result = runner.invoke(
        index_app, ["models", "--catalog", str(tmp_path / "empty.jsonl"), "--out", str(tmp_path)]
    )

    assert result.exit_code == 2
    assert "holds no usable entry" in result.output
