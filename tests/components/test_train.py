"""The train component through KFP's local runner: a model artifact and metrics the UI lists, trained
in the task's process or by torchrun with two processes (`processes`, what `p2m run --nproc` sets)."""

import pytest

from components.train import train


@pytest.mark.parametrize(
    ("processes", "random_states"),
    [
        (1, {"rng_state.pth"}),
        pytest.param(2, {"rng_state_0.pth", "rng_state_1.pth"}, marks=pytest.mark.distributed),
    ],
)
def test_train_writes_the_model_and_its_metrics(
    processes, random_states, run_component, stage_outputs, tiny_causal_lm_dir, tmp_path
):
    ran = run_component(
        train,
        artifacts={"task": stage_outputs / "task.json", "data": stage_outputs / "data"},
        student=str(tiny_causal_lm_dir),
        training={"max_steps": 1, "batch_size": 2},
        work_dir=str(tmp_path / "work"),
        processes=processes,
    )
    assert {"config.json", "p2m_template.json"} <= {p.name for p in (ran.folder / "model").iterdir()}
    assert ran.metadata["metrics"]["steps"] == 1
    assert ran.metadata["metrics"]["trainable_parameters"] > 0
    assert ran.metadata["model"]["parameters"] == ran.metadata["metrics"]["parameters"]
    checkpoint = tmp_path / "work" / "checkpoints" / "checkpoint-1"
    assert random_states <= {p.name for p in checkpoint.iterdir()}
