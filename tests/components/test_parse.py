"""The parse component through KFP's local runner."""

import json

from components.parse import parse


def test_parse_writes_the_task(run_component):
    ran = run_component(parse, prompt="Write the word in capital letters.\n\nInput: apple\nOutput: APPLE\n")
    task = json.loads((ran.folder / "task").read_text())
    assert task["instruction"] == "Write the word in capital letters."
    assert task["examples"] == [{"input": "apple", "output": "APPLE"}]
    assert ran.parameters["Output"] >= 0
