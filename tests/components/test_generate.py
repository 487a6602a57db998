"""The generate component through KFP's local runner, against a loopback teacher named by parameters."""

import json

from components.generate import generate


def test_generate_keeps_its_state_in_the_work_folder_and_publishes_it(
    run_component, stage_outputs, echo_teacher, tmp_path
):
    ran = run_component(
        generate,
        artifacts={"task": stage_outputs / "task.json"},
        num_examples=2,
        work_dir=str(tmp_path / "work"),
        teacher_base_url=echo_teacher.base_url,
        teacher_model="echo",
    )
    stats = json.loads((ran.folder / "generated" / "stats.json").read_text())
    assert stats["teacher"].endswith("echo") or "echo" in stats["teacher"]
    assert stats["usage"]["requests"] > 0
    assert (tmp_path / "work" / "generated" / "raw.jsonl").read_text() == (
        ran.folder / "generated" / "raw.jsonl"
    ).read_text()
    assert ran.parameters["Output"] > 0
