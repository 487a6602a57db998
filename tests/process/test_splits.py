"""Merging, de-duplicating and splitting examples, and the JSONL files they are written to."""

import pytest

from p2m_lib.errors import P2MError
from p2m_lib.process import TaskTemplate, make_splits, read_split, write_splits
from p2m_lib.types import Example

GENERATED = [Example(f"g{i}", f"out{i}") for i in range(14)]
RETRIEVED = [Example(f"d{i}", f"out{i}") for i in range(6)]


def _sizes(splits):
    return {name: len(rows) for name, rows in splits.items()}


def test_sizes_follow_the_fractions():
    splits = make_splits(GENERATED, RETRIEVED, val_fraction=0.1, test_fraction=0.2, seed=0)

    assert _sizes(splits) == {"train": 14, "val": 2, "test": 4}


def test_every_row_is_in_exactly_one_split_with_its_source():
    splits = make_splits(GENERATED, RETRIEVED, 0.1, 0.1, seed=0)

    rows = [row for split in splits.values() for row in split]
    assert sorted((row["input"], row["source"]) for row in rows) == sorted(
        [(e.input, "generated") for e in GENERATED] + [(e.input, "dataset") for e in RETRIEVED]
    )


def test_same_seed_same_splits_other_seed_other_order():
    first = make_splits(GENERATED, RETRIEVED, 0.1, 0.1, seed=7)

    assert make_splits(GENERATED, RETRIEVED, 0.1, 0.1, seed=7) == first
    assert make_splits(GENERATED, RETRIEVED, 0.1, 0.1, seed=8) != first


def test_each_input_is_kept_once_with_a_labelled_output_first():
    generated = [
        Example("a", "1"),
        Example("a", "1"),
        Example("b", "2"),
        Example("b", "9"),
        Example("d", "4"),
    ]
    retrieved = [Example("a", "other"), Example("a", "1"), Example("c", "3")]

    splits = make_splits(generated, retrieved, 0.0, 0.0, seed=0)

    rows = sorted((r["input"], r["output"], r["source"]) for split in splits.values() for r in split)
    assert rows == [
        ("a", "other", "dataset"),
        ("b", "2", "generated"),
        ("c", "3", "dataset"),
        ("d", "4", "generated"),
    ]


def test_three_rows_give_one_per_split_even_with_zero_fractions():
    splits = make_splits([Example("a", "1"), Example("b", "2"), Example("c", "3")], [], 0.0, 0.0, seed=0)

    assert _sizes(splits) == {"train": 1, "val": 1, "test": 1}


def test_large_fractions_still_leave_a_training_row():
    splits = make_splits(GENERATED[:4], [], 0.45, 0.45, seed=0)

    assert _sizes(splits) == {"train": 1, "val": 1, "test": 2}


def test_too_few_rows_says_how_many():
    with pytest.raises(P2MError, match="only 2 distinct example"):
        make_splits([Example("a", "1"), Example("a", "1")], [Example("b", "2")], 0.1, 0.1, seed=0)


def test_fractions_out_of_range_are_refused():
    with pytest.raises(P2MError, match="fractions"):
        make_splits(GENERATED, [], 0.6, 0.5, seed=0)


def test_write_and_read_round_trip_with_model_input(tmp_path):
    splits = make_splits(GENERATED, RETRIEVED, 0.1, 0.1, seed=0)
    template = TaskTemplate("Echo.", "decoder-only")

    paths = write_splits(splits, tmp_path / "splits", template)

    assert {name: path.name for name, path in paths.items()} == {
        "train": "train.jsonl",
        "val": "val.jsonl",
        "test": "test.jsonl",
    }
    train = read_split(paths["train"])
    assert [{k: v for k, v in row.items() if k != "model_input"} for row in train] == splits["train"]
    assert train[0]["model_input"] == f"<task 0>\nEcho.\nExample:\n{train[0]['input']}\nLabel:\n"


def test_read_missing_split(tmp_path):
    with pytest.raises(P2MError, match="does not exist"):
        read_split(tmp_path / "train.jsonl")
