"""The gather_labelled and process components through KFP's local runner."""

import json

from components.gather_labelled import gather_labelled
from components.process import process
from p2m_lib.process import TaskTemplate


def test_process_merges_labelled_data_into_splits(run_component, stage_outputs, tiny_causal_lm_dir):
    ran = run_component(
        process,
        artifacts={
            "task": stage_outputs / "task.json",
            "generated": stage_outputs / "generated",
            "labelled": stage_outputs / "labelled",
        },
        student=str(tiny_causal_lm_dir),
    )
    stats = json.loads((ran.folder / "data" / "stats.json").read_text())
    assert stats["dataset"] == 10 and stats["retrieved"] == 0
    assert sum(stats["splits"].values()) == stats["dataset"] + stats["generated"]
    rows = [json.loads(line) for line in (ran.folder / "data" / "train.jsonl").read_text().splitlines()]
    # The quick profile's student prompts leave the instruction out, as its training does.
    assert rows and all(row["model_input"] == f"<task 0>\nExample:\n{row['input']}\nLabel:\n" for row in rows)
    trained = TaskTemplate.load(stage_outputs / "model")
    assert trained.prompt(rows[0]["input"]) == rows[0]["model_input"]


def test_gather_labelled_reads_the_users_file_and_the_first_usable_candidate(
    run_component, stage_outputs, labelled_file, tmp_path
):
    usable = tmp_path / "upper.jsonl"
    usable.write_text("".join(json.dumps({"word": w, "upper": w.upper()}) + "\n" for w in ("sea", "sky")))
    candidates = [
        # Not on disk, and the Hub is offline in tests: skipped with a warning.
        {"name": "acme/missing", "score": 0.9, "description": "Capitals."},
        {"name": str(usable), "score": 0.5, "description": "Words in upper case."},
    ]
    ran = run_component(
        gather_labelled,
        artifacts={"task": stage_outputs / "task.json"},
        candidates=json.dumps(candidates),
        dataset_path=str(labelled_file),
        input_col="text",
        output_col="label",
        retrieved_columns="word->upper",
    )
    stats = json.loads((ran.folder / "labelled" / "stats.json").read_text())
    assert stats["dataset"] == 10 and stats["retrieved"] == 2
    assert stats["retrieved_dataset"] == {
        "name": str(usable),
        "config": None,
        "input_columns": ["word"],
        "output_column": "upper",
        "columns_from": "user",
        "examples": 2,
    }
    rows = [
        json.loads(line) for line in (ran.folder / "labelled" / "examples.jsonl").read_text().splitlines()
    ]
    assert rows[-2:] == [
        {"input": "sea", "output": "SEA", "origin": "retrieved"},
        {"input": "sky", "output": "SKY", "origin": "retrieved"},
    ]
    assert rows[0]["origin"] == "dataset"
