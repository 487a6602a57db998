"""`p2m run` end to end on tiny models: a loopback OpenAI-compatible teacher, a tiny student."""

import json

import pytest
from openai_server import OpenAICompatServer, uppercase_teacher
from typer.testing import CliRunner

from p2m_lib.cli.main import app

PROMPT = """Write the word in capital letters.

Input: apple
Output: APPLE

Input: river
Output: RIVER
"""


@pytest.fixture
def labelled_files(tmp_path):
    train = tmp_path / "train.jsonl"
    test = tmp_path / "test.csv"
    train.write_text(
        "".join(json.dumps({"text": w, "label": w.upper()}) + "\n" for w in ["sun", "moon", "star"])
    )
    test.write_text("text,label\ncloud,CLOUD\nrain,RAIN\n")
    return train, test


def test_run_writes_every_artifact_and_a_complete_summary(
    tmp_path, tiny_causal_lm_dir, labelled_files, monkeypatch
):
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text(PROMPT)
    train, test = labelled_files
    out = tmp_path / "run"
    with OpenAICompatServer(reply=uppercase_teacher) as server:
        monkeypatch.setenv("P2M_LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("P2M_LLM_MODEL", "teacher-model")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
        result = CliRunner().invoke(
            app,
            [
                "run",
                "--prompt-file",
                str(prompt_file),
                "--out",
                str(out),
                "--student",
                str(tiny_causal_lm_dir),
                "--num-examples",
                "12",
                "--dataset",
                str(train),
                "--input-col",
                "text",
                "--output-col",
                "label",
                "--test-dataset",
                str(test),
                "--eval-rows",
                "1",
                "--lora",
            ],
        )
    assert result.exit_code == 0, result.output
    # The closing table compares student and teacher on both test sets; the steps were listed
    # as plain lines (the output is no terminal).
    assert "held-out split" in result.output and "your test set" in result.output
    assert "step train: success after" in result.output
    # ... and say how far apart student and teacher are on the one row scored, and how sure that is.
    # (Lines are wrapped to the console's width.)
    shown = " ".join(result.output.split())
    assert "your test set: Exact match, student minus teacher: " in shown
    assert " points over 1 row (standard error 0.0;" in shown

    summary = json.loads((out / "summary.json").read_text())
    assert summary["runner"] == "kfp-local"
    assert (out / "kfp-local").is_dir()
    assert summary["parsed"]["instruction"] == "Write the word in capital letters."
    assert summary["parsed"]["examples"] == [
        {"input": "apple", "output": "APPLE"},
        {"input": "river", "output": "RIVER"},
    ]
    assert summary["data"]["generated"] == 12
    assert summary["data"]["dataset"] == 3
    assert sum(summary["data"]["splits"].values()) == 15
    assert summary["model"]["path"] == "model"
    assert summary["model"]["parameters"] > 0
    for key in ("metrics", "baseline_metrics", "real_metrics", "real_baseline_metrics"):
        assert set(summary[key]) == {"exact_match", "chrf", "bertscore", "count"}
        assert all(isinstance(summary[key][m], float) for m in ("exact_match", "chrf", "bertscore"))
    # The scripted teacher answers every test input right, whatever the student learnt.
    assert summary["real_baseline_metrics"]["exact_match"] == 100.0
    # --eval-rows 1: one row of the two in the test file is scored.
    assert summary["real_metrics"]["count"] == 1
    difference = summary["real_difference"]
    assert difference["rows"] == 1 and difference["standard_error"] == 0.0
    assert difference["difference"] == summary["real_metrics"]["exact_match"] - 100.0
    assert difference["only_teacher_right"] == int(summary["real_metrics"]["exact_match"] == 0.0)
    assert set(summary["timings"]) == {"parse", "labelled", "generate", "process", "train", "evaluate"}

    generated = [json.loads(line) for line in (out / "generated" / "examples.jsonl").read_text().splitlines()]
    assert len(generated) == 12
    assert all(row["output"] == row["input"].upper() for row in generated)
    raw = (out / "generated" / "raw.jsonl").read_text().splitlines()
    assert len(raw) == summary["teacher"]["usage"]["requests"]
    for name in ("train.jsonl", "val.jsonl", "test.jsonl"):
        assert (out / "data" / name).stat().st_size > 0
    model_files = {p.name for p in (out / "model").iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "p2m_template.json",
        "README.md",
        "tokenizer.json",
    } <= model_files
    assert "(LoRA, merged)" in (out / "model" / "README.md").read_text()
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["input"] for p in predictions if p["split"] == "real_test"] == ["cloud"]
    assert "Write the word in capital letters." in (out / "report.html").read_text()
    assert json.loads((out / "metrics.json").read_text())["real_metrics"] == summary["real_metrics"]

    # The key travelled in the Authorization header only, never into the run folder.
    assert server.requests[0]["authorization"] == "Bearer sk-test-secret"
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in {".json", ".jsonl", ".html", ".md"}:
            assert "sk-test-secret" not in path.read_text(errors="ignore"), path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("   \n\t\n", "holds only whitespace"),
        (b"\x00\x01\x02binary", "binary"),
    ],
)
def test_bad_prompt_files_fail_with_one_line(tmp_path, content, message):
    prompt_file = tmp_path / "prompt.txt"
    if isinstance(content, bytes):
        prompt_file.write_bytes(content)
    else:
        prompt_file.write_text(content)
    result = CliRunner().invoke(
        app, ["run", "--prompt-file", str(prompt_file), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--learning-rate", "5"], "the learning rate must be between 0 and 1 (exclusive), not 5"),
        pytest.param(
            ["--nproc", "3"],
            "a batch of 8 rows cannot be split evenly over 3 processes: train with 1, 2, 4, 8 processes, "
            "or set the training batch_size to a multiple of 3",
            marks=pytest.mark.distributed,
        ),
    ],
)
def test_a_training_setting_that_cannot_work_is_refused_before_anything_runs(tmp_path, option, message):
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text(PROMPT)
    options = ["--prompt-file", str(prompt_file), "--out", str(tmp_path / "out"), *option]
    result = CliRunner().invoke(app, ["run", *options])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


@pytest.mark.distributed
def test_nproc_becomes_the_pipelines_cpu_processes(tmp_path):
    from p2m_lib.config import get_profile
    from pipelines.local import RunOptions, pipeline_arguments

    options = RunOptions(tmp_path / "prompt.txt", tmp_path / "out", get_profile("quick"), processes=2)

    assert pipeline_arguments(options, PROMPT, tmp_path / "out" / "kfp-local")["cpu_processes"] == 2


def test_unwritable_out_is_a_clear_error(tmp_path):
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text(PROMPT)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(
        app, ["run", "--prompt-file", str(prompt_file), "--out", str(blocker / "run")]
    )
    assert result.exit_code == 2
    assert f"cannot write to --out {blocker / 'run'}" in result.output


def test_missing_dataset_column_is_a_clear_error(tmp_path, labelled_files, monkeypatch):
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text(PROMPT)
    train, _ = labelled_files
    with OpenAICompatServer(reply=uppercase_teacher) as server:
        monkeypatch.setenv("P2M_LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("P2M_LLM_MODEL", "teacher-model")
        result = CliRunner().invoke(
            app,
            [
                "run",
                "--prompt-file",
                str(prompt_file),
                "--out",
                str(tmp_path / "out"),
                "--num-examples",
                "2",
                "--dataset",
                str(train),
                "--input-col",
                "question",
            ],
        )
    assert result.exit_code == 2
    assert "question" in result.output and "text" in result.output
    assert "Traceback" not in result.output


def test_estimate_prints_expected_cost_and_generates_nothing(tmp_path, monkeypatch):
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text(PROMPT)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": {"teacher-model": {"input": 1.0, "output": 2.0}}}))
    monkeypatch.setenv("P2M_PRICES", str(prices))
    with OpenAICompatServer(reply=uppercase_teacher) as server:
        monkeypatch.setenv("P2M_LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("P2M_LLM_MODEL", "teacher-model")
        result = CliRunner().invoke(
            app,
            [
                "run",
                "--prompt-file",
                str(prompt_file),
                "--out",
                str(tmp_path / "out"),
                "--estimate",
                "--json",
                "--num-examples",
                "10",
                "--max-requests",
                "30",
            ],
        )
        # Parsing may ask the teacher; generation requests end in the pattern's open label.
        generation_requests = [
            r for r in server.requests if r["body"]["messages"][-1]["content"].endswith(("Input:", "Output:"))
        ]
    assert result.exit_code == 0, result.output
    estimate = json.loads(result.stdout.strip().splitlines()[-1])
    assert estimate["model"] == "teacher-model"
    assert estimate["examples_left"] == 10
    assert estimate["max_requests"] == 30
    assert estimate["requests"] > 10
    assert estimate["cost"] > 0
    assert generation_requests == []
    assert not (tmp_path / "out" / "generated" / "raw.jsonl").exists()
