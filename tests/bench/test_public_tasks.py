"""bench/public_tasks.py: the public test sets' folders are the same for anyone with the same clones."""

import json

import pytest

from bench import public_tasks

SENTENCE = "a sentence of exactly six words {}"


def write_sst2(root, test_rows, dev_rows):
    folder = root / "data" / "SST-2"
    folder.mkdir(parents=True)
    for split, rows in (("test", test_rows), ("dev", dev_rows)):
        lines = "".join(f"{text} \t{label}\n" for text, label in rows)
        (folder / f"{split}.tsv").write_text("sentence\tlabel\n" + lines, encoding="utf-8")


def test_a_task_folder_holds_the_prompt_turn_taking_test_rows_and_its_source(tmp_path, monkeypatch):
    monkeypatch.setattr(public_tasks, "TEST_ROWS_PER_LABEL", 2)
    test = [("good one", "1"), ("great one", "1"), ("fine one", "1"), ("bad one", "0"), ("awful one", "0")]
    # Only whole sentences become demonstrations: the two-word rows are left to train.jsonl.
    dev = [(SENTENCE.format(i), str(i % 2)) for i in range(6)] + [("short row", "1"), ("tiny row", "0")]
    write_sst2(tmp_path / "alps", test, dev)

    public_tasks.write_task(public_tasks.TASKS["sentiment"], tmp_path / "alps", tmp_path / "out")

    rows = [json.loads(line) for line in (tmp_path / "out" / "test.jsonl").read_text().splitlines()]
    assert rows == [
        {"input": "good one", "output": "positive"},
        {"input": "bad one", "output": "negative"},
        {"input": "great one", "output": "positive"},
        {"input": "awful one", "output": "negative"},
    ]
    prompt = (tmp_path / "out" / "prompt.txt").read_text()
    assert prompt.startswith(public_tasks.TASKS["sentiment"].instruction + "\n\nInput: a sentence of ")
    demonstrations = [line[len("Input: ") :] for line in prompt.splitlines() if line.startswith("Input: ")]
    assert len(demonstrations) == 4 and all(text.startswith("a sentence") for text in demonstrations)
    assert prompt.count("Output: positive") == 2 and prompt.count("Output: negative") == 2
    train_file = tmp_path / "out" / "train.jsonl"
    train = [json.loads(line)["input"] for line in train_file.read_text().splitlines()]
    unshown = [text for text in (SENTENCE.format(i) for i in range(6)) if text not in demonstrations]
    assert sorted(train) == sorted([*unshown, "short row", "tiny row"])
    assert "4 test rows (2 of each label" in (tmp_path / "out" / "SOURCE.md").read_text()

    # The same files give the same folder.
    public_tasks.write_task(public_tasks.TASKS["sentiment"], tmp_path / "alps", tmp_path / "again")
    assert (tmp_path / "again" / "prompt.txt").read_text() == prompt


def test_a_label_the_task_does_not_know_is_named(tmp_path):
    write_sst2(tmp_path / "alps", [("good one", "1"), ("odd one", "7")], [])

    with pytest.raises(SystemExit, match="sentiment: label '7' is none of 1, 0"):
        public_tasks.write_task(public_tasks.TASKS["sentiment"], tmp_path / "alps", tmp_path / "out")
