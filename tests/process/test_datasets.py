"""Reading input/output pairs from every supported on-disk format."""

import json

import datasets
import pytest

from p2m_lib.errors import P2MError
from p2m_lib.process import datasets as datasets_module
from p2m_lib.process import load_pairs
from p2m_lib.types import Example

ROWS = [
    {"question": "2+2", "context": "math", "answer": "4"},
    {"question": "capital of France", "context": "geo", "answer": "Paris"},
    {"question": "", "context": "empty input", "answer": "x"},
    {"question": "no answer", "context": "empty output", "answer": ""},
    {"question": "3+3", "context": "math", "answer": 6},
]
EXPECTED = [Example("2+2", "4"), Example("capital of France", "Paris"), Example("3+3", "6")]


def _jsonl(tmp_path, rows=ROWS):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_jsonl_rows_become_examples_and_empty_ones_are_skipped(tmp_path):
    assert load_pairs(_jsonl(tmp_path), "question", "answer") == EXPECTED


def test_json_file(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps(ROWS[:2]))

    assert load_pairs(path, "question", "answer") == EXPECTED[:2]


def test_csv_file(tmp_path):
    path = tmp_path / "data.csv"
    datasets.Dataset.from_list([{k: str(v) for k, v in row.items()} for row in ROWS]).to_csv(path)

    assert load_pairs(path, "question", "answer") == EXPECTED


def test_values_keep_the_text_written_in_json_and_csv(tmp_path):
    # `datasets`' builders read "2018-03-20" as a timestamp and "007" as the number 7.
    rows = [
        {"input": "March 20, 2018", "output": "2018-03-20"},
        {"input": "agent id", "output": "007"},
        {"input": "is it?", "output": "None"},
        {"input": "count", "output": 12},
        {"input": "flag", "output": True},
    ]
    lines = _jsonl(tmp_path, rows)
    array = tmp_path / "data.json"
    array.write_text(json.dumps({"version": 2, "data": rows}))
    table = tmp_path / "data.csv"
    table.write_text(
        '\ufeffinput,output\n"March 20, 2018",2018-03-20\nagent id,007\nis it?,None\ncount,12\nflag,true\n'
    )
    expected = [
        Example("March 20, 2018", "2018-03-20"),
        Example("agent id", "007"),
        Example("is it?", "None"),
        Example("count", "12"),
        Example("flag", "true"),
    ]

    assert load_pairs(lines, "input", "output") == expected
    assert load_pairs(array, "input", "output") == expected
    assert load_pairs(table, "input", "output") == expected


def test_a_one_row_file_is_one_row_even_when_it_holds_lists(tmp_path):
    row = {"tokens": ["Ada", "wrote"], "answers": [{"text": "Ada"}], "label": "PER"}
    for name in ("one.jsonl", "one.json"):
        path = tmp_path / name
        path.write_text(json.dumps(row) + "\n")

        assert load_pairs(path, "tokens", "label") == [Example("Ada wrote", "PER")]


def test_json_lines_and_csv_are_read_only_as_far_as_the_row_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets_module, "MAX_FILE_ROWS", 2)
    lines = _jsonl(tmp_path)
    lines.write_text(lines.read_text() + "not json at all\n")  # past the cap: never parsed
    table = tmp_path / "data.csv"
    table.write_text("question,answer\n2+2,4\ncapital of France,Paris\n3+3,6\n")

    assert load_pairs(lines, "question", "answer") == EXPECTED[:2]
    assert load_pairs(table, "question", "answer") == EXPECTED[:2]


def test_a_json_file_may_hold_json_lines(tmp_path):
    path = tmp_path / "data.json"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))

    assert load_pairs(path, "question", "answer") == EXPECTED


def test_a_broken_json_line_is_named(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"a": "x", "b": "y"}\n{"a": "z", "b": \n')

    with pytest.raises(P2MError, match=r"data.jsonl: line 2 is not JSON"):
        load_pairs(path, "a", "b")


def test_rows_that_are_not_objects_are_refused(tmp_path):
    path = tmp_path / "data.json"
    path.write_text('[{"a": "x", "b": "y"}, ["z"]]')

    with pytest.raises(P2MError, match="row 2 is not a JSON object"):
        load_pairs(path, "a", "b")


def test_parquet_file(tmp_path):
    path = tmp_path / "data.parquet"
    datasets.Dataset.from_list([{k: str(v) for k, v in row.items()} for row in ROWS]).to_parquet(path)

    assert load_pairs(path, "question", "answer") == EXPECTED


def test_save_to_disk_dataset_folder(tmp_path):
    datasets.Dataset.from_list(ROWS[:2]).save_to_disk(tmp_path / "ds")

    assert load_pairs(tmp_path / "ds", "question", "answer") == EXPECTED[:2]


def test_save_to_disk_dataset_dict_prefers_train(tmp_path):
    splits = {
        "validation": datasets.Dataset.from_list(ROWS[1:2]),
        "train": datasets.Dataset.from_list(ROWS[:1]),
    }
    datasets.DatasetDict(splits).save_to_disk(tmp_path / "dd")

    assert load_pairs(tmp_path / "dd", "question", "answer") == EXPECTED[:1]


def test_save_to_disk_dataset_dict_without_train_takes_the_first_split(tmp_path):
    splits = {
        "validation": datasets.Dataset.from_list(ROWS[1:2]),
        "test": datasets.Dataset.from_list(ROWS[:1]),
    }
    datasets.DatasetDict(splits).save_to_disk(tmp_path / "dd")

    assert load_pairs(tmp_path / "dd", "question", "answer") == EXPECTED[1:2]


def test_several_input_columns_become_column_value_lines(tmp_path):
    pairs = load_pairs(_jsonl(tmp_path), "question, context", "answer")

    assert pairs[0] == Example("question: 2+2\ncontext: math", "4")
    # An empty question no longer empties the input: the context is there.
    assert pairs[2] == Example("question: \ncontext: empty input", "x")


def test_limit_counts_kept_rows(tmp_path):
    assert load_pairs(_jsonl(tmp_path), "question", "answer", limit=2) == EXPECTED[:2]


def test_missing_column_names_it_and_lists_the_available_ones(tmp_path):
    with pytest.raises(P2MError) as error:
        load_pairs(_jsonl(tmp_path), "question,passage", "label")

    assert str(error.value) == (
        f"{tmp_path / 'data.jsonl'} has no columns 'passage', 'label'; "
        "available columns: question, context, answer"
    )


def test_missing_file(tmp_path):
    with pytest.raises(P2MError, match="does not exist"):
        load_pairs(tmp_path / "nope.jsonl", "a", "b")


def test_unsupported_extension(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_text("x")

    with pytest.raises(P2MError, match="cannot read"):
        load_pairs(path, "a", "b")


def test_unreadable_folder(tmp_path):
    with pytest.raises(P2MError, match="cannot read dataset"):
        load_pairs(tmp_path, "a", "b")


def test_nested_answers_token_lists_and_label_sequences_become_text(tmp_path):
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "tags": datasets.Sequence(datasets.ClassLabel(names=["O", "PER"])),
            "answers": {
                "text": datasets.Sequence(datasets.Value("string")),
                "start": datasets.Sequence(datasets.Value("int32")),
            },
        }
    )
    rows = {
        "tokens": [["Ada", "wrote"]],
        "tags": [[1, 0]],
        "answers": [{"text": ["Ada", "Ada Lovelace"], "start": [0, 0]}],
    }
    folder = tmp_path / "nested"
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(folder)

    assert load_pairs(folder, "tokens", "tags") == [Example("Ada wrote", "PER O")]
    assert load_pairs(folder, "tokens", "answers") == [Example("Ada wrote", "Ada")]
