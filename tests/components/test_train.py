"""The train component through KFP's local runner: a model artifact and metrics the UI lists."""

import pytest

from components.train import train


def test_train_writes_the_model_and_its_metrics(run_component, stage_outputs, tiny_causal_lm_dir, tmp_path):
    ran = run_component(
        train,
        artifacts={"task": stage_outputs / "task.json", "data": stage_outputs / "data"},
        student=str(tiny_causal_lm_dir),
        training={"max_steps": 1, "batch_size": 2},
        work_dir=str(tmp_path / "work"),
    )
    assert {"config.json", "p2m_template.json"} <= {p.name for p in (ran.folder / "model").iterdir()}
    assert ran.metadata["metrics"]["steps"] == 1
    assert ran.metadata["metrics"]["trainable_parameters"] > 0
    assert ran.metadata["model"]["parameters"] == ran.metadata["metrics"]["parameters"]
    assert any((tmp_path / "work" / "checkpoints").iterdir())


@pytest.mark.distributed
def test_train_with_two_processes_is_the_same_step_run_by_torchrun(
    run_component, stage_outputs, tiny_causal_lm_dir, tmp_path
):
    ran = run_component(
        train,
        artifacts={"task": stage_outputs / "task.json", "data": stage_outputs / "data"},
        student=str(tiny_causal_lm_dir),
        training={"max_steps": 2, "batch_size": 2},
        work_dir=str(tmp_path / "work"),
        processes=2,
    )
    assert ran.metadata["metrics"]["steps"] == 2
    checkpoint = tmp_path / "work" / "checkpoints" / "checkpoint-2"
    assert {"rng_state_0.pth", "rng_state_1.pth"} <= {p.name for p in checkpoint.iterdir()}
