"""Data-parallel training with torchrun on CPU (gloo): two processes train the tiny Llama as one does.

Two processes take each step's batch half each, so the optimizer steps and the rows of every
step are those of one process: the logged losses agree within `LOSS_TOLERANCE` (relative; they
differ only by the order of floating-point sums, measured at most 1.5e-4 here).
"""

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from train.ddp_worker import WRITE_LIMIT_NOTICE

from p2m_lib.config import TrainConfig
from p2m_lib.errors import P2MError
from p2m_lib.stages import TRAIN_RESULT_FILE, train_stage
from p2m_lib.train.distributed import TrainRequest, device_batch_size, launch, local_command
from p2m_lib.types import TaskSpec

pytestmark = pytest.mark.distributed

WORKER = Path(__file__).resolve().parent / "ddp_worker.py"
# The wrapper runs as a script: its p2m_lib must be this checkout's, as `python -m` finds it.
WORKER_ENVIRONMENT = {
    "PYTHONPATH": str(WORKER.parents[2]),
    "CUDA_VISIBLE_DEVICES": "",
    "PYTHONDONTWRITEBYTECODE": "1",
}
ROWS = [{"input": f"word {i}", "output": f"w{i}"} for i in range(20)]
# 16 rows in batches of 4, 3 epochs: 12 steps; validated and checkpointed every 3.
CONFIG = TrainConfig(
    epochs=3, learning_rate=1e-3, batch_size=4, max_length=64, seed=3, freeze_embeddings=False, eval_every=3
)
STEPS = 12
LOSS_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """task.json and data/{train,val}.jsonl as the process stage writes them."""
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "task.json").write_text(json.dumps(TaskSpec("Repeat the word.").to_dict()))
    _write_split(folder / "data" / "train.jsonl", ROWS[:16])
    _write_split(folder / "data" / "val.jsonl", ROWS[16:])
    return folder


def _write_split(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def _request(inputs, student, run_dir, config=CONFIG):
    return TrainRequest(
        inputs / "task.json", inputs / "data", str(student), config, run_dir / "model", run_dir / "ckpt"
    )


def _train(request, processes):
    fields = (request.task_path, request.data_dir, request.student, request.config)
    return train_stage(*fields, request.model_dir, request.checkpoints_dir, processes=processes)


def _under_the_worker_wrapper(request, *options):
    """torchrun with two processes of tests/train/ddp_worker.py (rank 1 may write nothing)."""
    command = local_command(request, 2)
    module_at = command.index("-m", command.index("torch.distributed.run"))
    command[module_at : module_at + 2] = [str(WORKER), *options]
    environment = {**os.environ, **WORKER_ENVIRONMENT}
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def one_process(inputs, tiny_causal_lm_dir, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("one")
    return _train(_request(inputs, tiny_causal_lm_dir, run_dir), processes=1), run_dir


@pytest.fixture(scope="module")
def two_processes(inputs, tiny_causal_lm_dir, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("two")
    return _train(_request(inputs, tiny_causal_lm_dir, run_dir), processes=2), run_dir


def test_two_processes_take_the_steps_of_one_with_the_same_losses(one_process, two_processes):
    (alone, _), (together, _) = one_process, two_processes

    assert alone["steps"] == together["steps"] == STEPS
    assert [step for step, _ in together["loss_history"]] == list(range(1, STEPS + 1))
    assert [loss for _, loss in together["loss_history"]] == pytest.approx(
        [loss for _, loss in alone["loss_history"]], rel=LOSS_TOLERANCE
    )
    assert [step for step, _, _ in together["eval_history"]] == [3, 6, 9, 12]
    assert [loss for _, _, loss in together["eval_history"]] == pytest.approx(
        [loss for _, _, loss in alone["eval_history"]], rel=LOSS_TOLERANCE
    )
    assert (together["best_step"], together["stopped_by"]) == (alone["best_step"], alone["stopped_by"])


def test_two_processes_write_one_model_folder_and_one_set_of_checkpoints(one_process, two_processes):
    (_, alone_dir), (together, run_dir) = one_process, two_processes

    assert sorted(path.name for path in run_dir.iterdir()) == ["ckpt", "model"]
    assert _names(run_dir / "model") == _names(alone_dir / "model")
    assert json.loads((run_dir / "model" / TRAIN_RESULT_FILE).read_text()) == together
    # Rank 0 writes both processes' random states, where a resumed run's ranks look for them.
    checkpoint = run_dir / "ckpt" / f"checkpoint-{STEPS}"
    assert {"rng_state_0.pth", "rng_state_1.pth", "trainer_state.json"} <= _names(checkpoint)


def _names(folder):
    return {path.name for path in folder.iterdir()}


def test_rank_1_writes_no_byte_to_any_file(inputs, tiny_causal_lm_dir, tmp_path):
    request = _request(inputs, tiny_causal_lm_dir, tmp_path)

    finished = _under_the_worker_wrapper(request)

    assert finished.returncode == 0, finished.stderr[-3000:]
    assert f"{WRITE_LIMIT_NOTICE} 1" in finished.stderr
    assert json.loads((tmp_path / "model" / TRAIN_RESULT_FILE).read_text())["steps"] == STEPS


def test_the_write_limit_stops_a_rank_1_that_writes(inputs, tiny_causal_lm_dir, tmp_path):
    """The check above can fail: rank 1 training alone (a world of one) writes checkpoints, and dies."""
    request = _request(inputs, tiny_causal_lm_dir, tmp_path, replace(CONFIG, max_steps=1))
    environment = {**os.environ, **WORKER_ENVIRONMENT, "RANK": "1"}

    stopped = subprocess.run(
        [sys.executable, str(WORKER), *request.worker_command()[2:]], env=environment, capture_output=True
    )

    assert stopped.returncode == -signal.SIGXFSZ


def test_an_interrupted_two_process_run_resumes_from_its_last_checkpoint(
    inputs, tiny_causal_lm_dir, two_processes, tmp_path
):
    request = _request(inputs, tiny_causal_lm_dir, tmp_path)

    interrupted = _under_the_worker_wrapper(request, "--kill-rank-0-after-step", "7")

    assert interrupted.returncode != 0
    assert not (tmp_path / "model").exists()
    resumed = _train(request, processes=2)

    assert resumed["resumed_from"] == str(tmp_path / "ckpt" / "checkpoint-6")
    assert resumed["steps"] == STEPS
    uninterrupted, _ = two_processes
    assert [loss for _, loss in resumed["loss_history"]] == pytest.approx(
        [loss for _, loss in uninterrupted["loss_history"]], rel=LOSS_TOLERANCE
    )


def test_a_workers_error_reaches_the_caller_as_its_one_line_message(inputs, tiny_causal_lm_dir, tmp_path):
    empty = tmp_path / "inputs"
    (empty / "data").mkdir(parents=True)
    (empty / "task.json").write_text((inputs / "task.json").read_text())
    _write_split(empty / "data" / "train.jsonl", [])
    _write_split(empty / "data" / "val.jsonl", ROWS[16:])

    with pytest.raises(P2MError) as raised:
        _train(_request(empty, tiny_causal_lm_dir, tmp_path / "run"), processes=2)

    assert str(raised.value) == "no training rows: generate or retrieve some examples first"


@pytest.mark.parametrize(("batch_size", "processes", "rows"), [(8, 1, 8), (8, 2, 4), (8, 8, 1), (64, 16, 4)])
def test_each_process_takes_its_share_of_the_batch(batch_size, processes, rows):
    assert device_batch_size(batch_size, processes) == rows


def test_a_batch_that_cannot_be_shared_evenly_is_refused_before_any_process_starts(inputs, tmp_path):
    request = _request(inputs, "unused", tmp_path, replace(CONFIG, batch_size=8))

    with pytest.raises(P2MError) as raised:
        launch(request, 3)

    assert str(raised.value) == (
        "a batch of 8 rows cannot be split evenly over 3 processes: train with 1, 2, 4, 8 processes, "
        "or set the training batch_size to a multiple of 3"
    )
    assert not tmp_path.joinpath("model").exists()


def test_the_worker_command_carries_the_whole_request(inputs, tmp_path):
    request = _request(inputs, "smollm2-135m", tmp_path, replace(CONFIG, lora=True, time_budget_s=60.0))

    command = request.worker_command()

    assert command[:2] == ["-m", "p2m_lib.train"]
    assert TrainRequest.from_arguments(command[2:]) == request
    assert TrainRequest.from_arguments(replace(request, student=None).worker_command()[2:]).student is None
