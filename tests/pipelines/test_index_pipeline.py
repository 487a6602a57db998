"""The index pipeline through KFP's local runner, then `p2m run` on the indices it built."""

import dataclasses
import json

import pytest
from kfp import local
from openai_server import OpenAICompatServer

from p2m_lib.config import get_profile
from p2m_lib.errors import P2MError
from pipelines.index import build_index_pipeline
from pipelines.local import RunOptions, pipeline_arguments, run_pipeline_locally

# Our images are not named "python*" and GPU settings have no local effect: KFP warns about both.
pytestmark = [
    pytest.mark.filterwarnings("ignore:You may be attemping:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:.*have no effect in the current local runner:UserWarning"),
]
MODELS = [{"name": "acme/capital-writer", "description": "Writes capital letters.", "size_bytes": 10**8}]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def new_run(root, earlier):
    (run_dir,) = {p for p in root.iterdir() if p.is_dir()} - earlier
    return run_dir


@pytest.mark.slow
def test_p2m_run_trains_on_what_the_indices_the_index_pipeline_built_find(
    tmp_path, tiny_causal_lm_dir, monkeypatch
):
    # A dataset the catalog names by a local path, with its column mapping: usable offline.
    capitals = write_jsonl(tmp_path / "capitals.jsonl", [{"word": w, "caps": w.upper()} for w in "abcdefgh"])
    datasets = [
        {
            "name": str(capitals),
            "description": "Words and the same words written in capital letters.",
            "input_columns": ["word"],
            "output_column": "caps",
        },
        {"name": "acme/recipes", "description": "Cooking recipes with ingredients and steps."},
    ]
    root = tmp_path / "kfp-root"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    build_index_pipeline(retries=0)(
        dataset_catalog=str(write_jsonl(tmp_path / "datasets.jsonl", datasets)),
        model_catalog=str(write_jsonl(tmp_path / "models.jsonl", MODELS)),
    )
    index_run = new_run(root, set())
    # Built in the branch that imports the catalogs, so KFP numbers the task names.
    (dataset_index,) = index_run.glob("build-dataset-index*/index")
    (model_index,) = index_run.glob("build-model-index*/index")
    assert json.loads((dataset_index / "manifest.json").read_text())["entries"] == 2
    assert json.loads((model_index / "manifest.json").read_text())["entries"] == 2

    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text("Write the word in capital letters.\n\nInput: apple\nOutput: APPLE\n")
    quick = get_profile("quick")
    options = RunOptions(
        prompt_file=prompt_file,
        out_dir=tmp_path / "run",
        profile=dataclasses.replace(
            quick,
            generation=dataclasses.replace(quick.generation, num_examples=2),
            train=dataclasses.replace(quick.train, max_steps=1, batch_size=2),
        ),
        student=str(tiny_causal_lm_dir),
        dataset_index=dataset_index,
        model_index=model_index,
    )
    # An echoing loopback teacher answers at once; the retrieved dataset carries training.
    with OpenAICompatServer() as echo:
        monkeypatch.setenv("P2M_LLM_BASE_URL", echo.base_url)
        monkeypatch.setenv("P2M_LLM_MODEL", "echo")
        summary = run_pipeline_locally(options)

    assert summary["data"]["retrieved"] == 8
    assert summary["data"]["retrieved_dataset"] == {
        "name": str(capitals),
        "config": None,
        "input_columns": ["word"],
        "output_column": "caps",
        "columns_from": "catalog",
        "examples": 8,
    }
    assert (tmp_path / "run" / "labelled" / "examples.jsonl").read_text().count('"origin": "retrieved"') == 8
    run_dir = new_run(tmp_path / "run" / "kfp-local", set())
    tasks = {p.name for p in run_dir.iterdir()}
    assert {"retrieve-datasets", "retrieve-model", "train", "report"} <= tasks
    assert "check-student" not in tasks
    assert json.loads((run_dir / "retrieve-datasets" / "candidates").read_text())[0]["name"] == str(capitals)
    # The user's student wins over the ranking, which is still listed.
    chosen = json.loads((run_dir / "retrieve-model" / "executor_output.json").read_text())
    assert chosen["parameterValues"]["Output"] == str(tiny_causal_lm_dir)
    assert "acme/capital-writer" in (run_dir / "retrieve-model" / "table").read_text()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dataset_index": "no-index"}, "p2m index datasets"),
        ({"model_index": "no-index"}, "p2m index models"),
        ({"retrieved_columns": "a->b"}, "--retrieved-columns names the columns of a retrieved dataset"),
        (
            {"retrieved_dataset": "glue:sst2", "retrieved_columns": "a"},
            r"must read INPUT\[,INPUT...\]->OUTPUT",
        ),
    ],
)
def test_p2m_run_refuses_unusable_retrieval_options_before_any_task(tmp_path, options, message):
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text("Write the word in capital letters.")
    paths = {key: tmp_path / value for key, value in options.items() if key.endswith("_index")}
    run = RunOptions(
        prompt_file=prompt_file, out_dir=tmp_path / "run", profile=get_profile("quick"), **(options | paths)
    )
    with pytest.raises(P2MError, match=message):
        run_pipeline_locally(run)
    assert not (tmp_path / "run").exists()


def _pipeline_arguments(tmp_path, profile):
    options = RunOptions(
        prompt_file=tmp_path / "p.txt", out_dir=tmp_path / "run", profile=profile, student=None
    )
    return pipeline_arguments(options, "prompt", tmp_path / "run" / "kfp-local")


def test_a_profile_the_pipeline_cannot_express_is_refused(tmp_path):
    profile = dataclasses.replace(get_profile("quick"), val_fraction=0.3)
    with pytest.raises(P2MError, match="changed beyond its generation and training settings"):
        _pipeline_arguments(tmp_path, profile)


def test_the_rows_scored_travel_as_eval_rows(tmp_path):
    profile = dataclasses.replace(get_profile("standard"), max_eval_examples=500)
    assert _pipeline_arguments(tmp_path, profile)["eval_rows"] == 500


def test_a_changed_profile_travels_as_num_examples_and_training(tmp_path):
    quick = get_profile("quick")
    profile = dataclasses.replace(
        quick,
        generation=dataclasses.replace(quick.generation, num_examples=7, max_cost=1.5),
        train=dataclasses.replace(quick.train, lora=True, epochs=2),
    )
    arguments = _pipeline_arguments(tmp_path, profile)
    assert arguments["num_examples"] == 7
    assert arguments["eval_rows"] == 0  # the profile's own
    assert arguments["generation"] == {"max_cost": 1.5}
    assert arguments["training"] == {"lora": True, "epochs": 2}
    assert arguments["student"] == "" and arguments["work_dir"] == str((tmp_path / "run").resolve())
    assert arguments["run_info"]["runner"] == "kfp-local"
