"""`run_pipeline_locally`: the prompt2model pipeline through KFP's local runner on tiny models, offline."""

import dataclasses
import fcntl
import json
import re

import pytest

from p2m_lib.config import get_profile
from p2m_lib.errors import P2MError
from p2m_lib.stages import LabelledData
from pipelines.local import RunOptions, _this_run, run_pipeline_locally

PROMPT = """Write the word in capital letters.

Input: apple
Output: APPLE

Input: river
Output: RIVER
"""
RUN_FILES = {
    "task.json",
    "generated",
    "labelled",
    "data",
    "checkpoints",
    "model",
    "predictions.jsonl",
    "metrics.json",
    "report.html",
    "summary.json",
    "kfp-local",
}


def tiny_options(tmp_path, student_dir, **overrides):
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text(PROMPT)
    train = tmp_path / "train.jsonl"
    train.write_text(
        "".join(json.dumps({"text": w, "label": w.upper()}) + "\n" for w in ["sun", "moon", "star"])
    )
    test = tmp_path / "test.csv"
    test.write_text("text,label\ncloud,CLOUD\nrain,RAIN\n")
    quick = get_profile("quick")
    profile = dataclasses.replace(
        quick,
        generation=dataclasses.replace(quick.generation, num_examples=12),
        train=dataclasses.replace(quick.train, max_steps=2, batch_size=4),
    )
    defaults = {
        "prompt_file": prompt_file,
        "out_dir": tmp_path / "run",
        "profile": profile,
        "student": str(student_dir),
        "dataset": LabelledData(train, "text", "label"),
        "test_dataset": LabelledData(test, "text", "label"),
    }
    return RunOptions(**{**defaults, **overrides})


@pytest.mark.slow
def test_the_local_pipeline_writes_the_run_folder_of_p2m_run(
    tmp_path, tiny_causal_lm_dir, teacher_env, capsys
):
    options = tiny_options(tmp_path, tiny_causal_lm_dir)
    summary = run_pipeline_locally(options)
    out = options.out_dir

    # The output (no terminal here) lists each step's start and end; the tasks' output is logged.
    shown = capsys.readouterr().err
    generate_lines = r"^step generate: started\nstep generate: success after \d+ s$"
    assert re.search(generate_lines, shown, re.MULTILINE), shown
    assert re.search(r"^step train: success after \d+ s$", shown, re.MULTILINE), shown
    assert "Executing task" not in shown
    assert "progress: Training 2/2" in (out / "kfp-local" / "pipeline.log").read_text()

    assert summary == json.loads((out / "summary.json").read_text())
    assert summary["runner"] == "kfp-local"
    assert summary["pipeline_root"] == str((out / "kfp-local").resolve())
    assert summary["out_dir"] == str(out.resolve())
    assert summary["profile"] == "quick"
    assert summary["parsed"]["examples"] == [
        {"input": "apple", "output": "APPLE"},
        {"input": "river", "output": "RIVER"},
    ]
    assert summary["data"]["generated"] == 12
    assert summary["data"]["dataset"] == 3
    assert summary["model"]["path"] == "model"
    assert summary["model"]["steps"] == 2
    for key in ("metrics", "baseline_metrics", "real_metrics", "real_baseline_metrics"):
        assert set(summary[key]) == {"exact_match", "chrf", "bertscore", "count"}
    assert summary["real_baseline_metrics"]["exact_match"] == 100.0
    assert set(summary["timings"]) == {"parse", "labelled", "generate", "process", "train", "evaluate"}
    assert all(seconds > 0 for seconds in summary["timings"].values())

    assert {path.name for path in out.iterdir()} == RUN_FILES
    generated = [json.loads(line) for line in (out / "generated" / "examples.jsonl").read_text().splitlines()]
    assert len(generated) == 12 and all(row["output"] == row["input"].upper() for row in generated)
    assert {"config.json", "model.safetensors", "p2m_template.json", "tokenizer.json"} <= {
        p.name for p in (out / "model").iterdir()
    }
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["input"] for p in predictions if p["split"] == "real_test"] == ["cloud", "rain"]
    assert "Write the word in capital letters." in (out / "report.html").read_text()

    # Every artifact of every task stays in the pipeline root, one folder per task.
    (run_dir,) = [p for p in (out / "kfp-local").iterdir() if p.is_dir()]
    tasks = {p.name for p in run_dir.iterdir()}
    assert {"parse", "no-dataset-index", "gather-labelled", "generate", "check-student", "process"} <= tasks
    assert {"train", "evaluate", "report"} <= tasks
    assert "deploy" not in tasks
    evaluate_outputs = json.loads((run_dir / "evaluate" / "executor_output.json").read_text())["artifacts"]
    listed = evaluate_outputs["metrics"]["artifacts"][0]["metadata"]
    assert listed["real_baseline_metrics.exact_match"] == 100.0
    # The key travelled in the Authorization header only: never a parameter, never on disk.
    assert teacher_env.requests[0]["authorization"] == "Bearer sk-test-secret"
    for path in out.rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert b"sk-test-secret" not in path.read_bytes(), path


@pytest.mark.slow
def test_a_rerun_resumes_generation_without_new_requests(tmp_path, tiny_causal_lm_dir, teacher_env):
    options = tiny_options(tmp_path, tiny_causal_lm_dir, dataset=None, test_dataset=None)
    raw = options.out_dir / "generated" / "raw.jsonl"
    run_pipeline_locally(options)
    replies = raw.read_text()
    summary = run_pipeline_locally(options)
    assert raw.read_text() == replies
    assert json.loads((options.out_dir / "generated" / "stats.json").read_text())["resumed"] == 12
    assert summary["data"]["generated"] == 12
    assert len([p for p in (options.out_dir / "kfp-local").iterdir() if p.is_dir()]) == 2


def test_a_failing_task_raises_its_own_error_with_the_log(tmp_path, tiny_causal_lm_dir, monkeypatch):
    monkeypatch.delenv("P2M_LLM_BASE_URL", raising=False)
    options = tiny_options(tmp_path, tiny_causal_lm_dir, teacher="openai", dataset=None, test_dataset=None)
    with pytest.raises(
        P2MError, match=r"P2M_LLM_BASE_URL is not set.*task parse failed; its log is in .*pipeline.log"
    ):
        run_pipeline_locally(options)


def test_an_empty_prompt_fails_before_any_task(tmp_path, tiny_causal_lm_dir):
    options = tiny_options(tmp_path, tiny_causal_lm_dir)
    options.prompt_file.write_text("")
    with pytest.raises(P2MError, match="is empty"):
        run_pipeline_locally(options)
    assert not options.out_dir.exists()


def test_an_unwritable_run_folder_fails_before_any_task(tmp_path, tiny_causal_lm_dir):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    options = dataclasses.replace(tiny_options(tmp_path, tiny_causal_lm_dir), out_dir=blocker / "run")
    with pytest.raises(P2MError, match=f"cannot write to --out {blocker / 'run'}"):
        run_pipeline_locally(options)


def test_a_second_run_into_a_folder_in_use_fails_before_any_task(tmp_path, tiny_causal_lm_dir):
    options = tiny_options(tmp_path, tiny_causal_lm_dir)
    root = options.out_dir / "kfp-local"
    root.mkdir(parents=True)
    with open(root / "run.lock", "w") as first_run:
        fcntl.flock(first_run, fcntl.LOCK_EX | fcntl.LOCK_NB)
        first_run.write("4242\n")
        first_run.flush()
        with pytest.raises(
            P2MError,
            match=re.escape(
                f"another p2m run (process 4242) is writing to --out {options.out_dir.resolve()}; "
                "wait for it to finish or give this run another --out"
            ),
        ):
            run_pipeline_locally(options)
    assert [path.name for path in root.iterdir()] == ["run.lock"]


def test_runs_left_by_an_interrupted_run_are_named_not_taken_for_this_one(tmp_path):
    earlier = tmp_path / "prompt2model-2026-12-01-09-00-00-000000"
    earlier.mkdir()
    (tmp_path / "run.lock").write_text("")
    this_run = tmp_path / "prompt2model-2026-12-01-10-00-00-000000"
    this_run.mkdir()
    assert _this_run(tmp_path, {earlier}) == this_run
    leftover = tmp_path / "prompt2model-2026-12-01-10-00-05-000000"
    leftover.mkdir()
    with pytest.raises(
        P2MError,
        match=re.escape(
            f"expected one new pipeline run in {tmp_path}, found 2 ({this_run.name}, {leftover.name}): "
            "a task of an interrupted p2m run is probably still writing into this --out"
        ),
    ):
        _this_run(tmp_path, {earlier})


def test_a_missing_dataset_column_fails_before_any_task(tmp_path, tiny_causal_lm_dir):
    options = tiny_options(tmp_path, tiny_causal_lm_dir)
    options = dataclasses.replace(options, dataset=LabelledData(options.dataset.path, "question", "label"))
    with pytest.raises(P2MError, match="question"):
        run_pipeline_locally(options)
    assert not options.out_dir.exists()
