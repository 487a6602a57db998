"""The process component through KFP's local runner, with the user's labelled file."""

import json

from components.process import process


def test_process_merges_labelled_data_into_splits(
    run_component, stage_outputs, labelled_file, tiny_causal_lm_dir
):
    ran = run_component(
        process,
        artifacts={"task": stage_outputs / "task.json", "generated": stage_outputs / "generated"},
        student=str(tiny_causal_lm_dir),
        dataset_path=str(labelled_file),
        input_col="text",
        output_col="label",
    )
    stats = json.loads((ran.folder / "data" / "stats.json").read_text())
    assert stats["dataset"] == 10
    assert sum(stats["splits"].values()) == stats["dataset"] + stats["generated"]
    assert (ran.folder / "data" / "train.jsonl").stat().st_size > 0
