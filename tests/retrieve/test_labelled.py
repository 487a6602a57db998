"""Using what dataset retrieval found: which dataset, which columns, which rows."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import datasets
import pytest

from p2m_lib.errors import P2MError
from p2m_lib.index import CatalogEntry
from p2m_lib.retrieve.labelled import (
    MAX_TRIES,
    ColumnChoice,
    columns_by_name,
    columns_from_reply,
    use_retrieved_dataset,
)
from p2m_lib.stages import LabelledData, labelled_stage, write_json
from p2m_lib.types import Example, TaskSpec

TASK = TaskSpec("Answer the question from the passage.", (Example("Q: 2+2?", "4"),))
QA_ROWS = [
    {"id": "1", "question": "Capital of France?", "passage": "Paris is in France.", "answer": "Paris"},
    {"id": "2", "question": "Colour of the sky?", "passage": "The sky is blue.", "answer": "blue"},
    {"id": "3", "question": "No answer here", "passage": "Nothing.", "answer": ""},
]
QA_EXAMPLES = (
    Example("question: Capital of France?\npassage: Paris is in France.", "Paris"),
    Example("question: Colour of the sky?\npassage: The sky is blue.", "blue"),
)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def qa_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "qa.jsonl", QA_ROWS)


def entry(name: str | Path, **fields) -> CatalogEntry:
    return CatalogEntry(name=str(name), description="", **fields)


def test_column_specs_parse_and_malformed_ones_say_the_form() -> None:
    assert ColumnChoice.parse(" question , passage -> answer") == ColumnChoice(
        ("question", "passage"), "answer", "user"
    )
    for bad in ("question", "->answer", "question->", ""):
        with pytest.raises(P2MError, match=r"INPUT\[,INPUT...\]->OUTPUT"):
            ColumnChoice.parse(bad)


def test_the_catalogs_column_mapping_is_used_first(qa_file: Path, fake_teacher: type) -> None:
    teacher = fake_teacher('{"input_columns": ["id"], "output_column": "answer"}')
    mapped = entry(qa_file, input_columns=("question", "passage"), output_column="answer")

    used = use_retrieved_dataset([mapped], TASK, teacher)

    assert used is not None and used.examples == QA_EXAMPLES
    assert used.columns == ColumnChoice(("question", "passage"), "answer", "catalog")
    assert teacher.prompts == []


def test_a_capable_teacher_chooses_columns_from_the_rows_it_is_shown(
    qa_file: Path, fake_teacher: type
) -> None:
    teacher = fake_teacher('Sure: {"input_columns": ["question", "passage"], "output_column": "answer"}')

    used = use_retrieved_dataset([entry(qa_file)], TASK, teacher)

    assert used is not None and used.columns.source == "teacher" and used.examples == QA_EXAMPLES
    (prompt,) = teacher.prompts
    assert "Answer the question from the passage." in prompt
    assert "id, question, passage, answer" in prompt
    assert '"answer": "Paris"' in prompt


def test_an_unusable_teacher_choice_falls_back_to_column_names(qa_file: Path, fake_teacher: type) -> None:
    teacher = fake_teacher('{"input_columns": ["nope"], "output_column": "answer"}')

    used = use_retrieved_dataset([entry(qa_file)], TASK, teacher)

    assert used is not None
    assert used.columns == ColumnChoice(("question", "passage"), "answer", "column names")


def test_an_incapable_teacher_is_not_asked(qa_file: Path, fake_teacher: type) -> None:
    teacher = fake_teacher("{}", capable=False)

    assert use_retrieved_dataset([entry(qa_file)], TASK, teacher) is not None
    assert teacher.prompts == []


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"input_columns": ["q"], "output_column": "a"}', ColumnChoice(("q",), "a", "teacher")),
        ('```json\n{"input_columns": "q", "output_column": "a"}\n```', ColumnChoice(("q",), "a", "teacher")),
        ('{"input_columns": ["q", "a"], "output_column": "a"}', None),  # output is also an input
        ('{"input_columns": [], "output_column": "a"}', None),
        ('{"input_columns": ["q"], "output_column": ["a", "b"]}', None),  # exactly one output
        ('{"input_columns": ["q"], "output_column": "z"}', None),
        ("the question column", None),
    ],
)
def test_teacher_replies_are_validated(reply: str, expected: ColumnChoice | None) -> None:
    assert columns_from_reply(reply, ["q", "a", "id"]) == expected


def test_conventional_names_make_a_choice_only_when_both_sides_are_found() -> None:
    assert columns_by_name(["idx", "sentence", "label"]) == ColumnChoice(
        ("sentence",), "label", "column names"
    )
    assert columns_by_name(["premise", "hypothesis", "label"]).input_columns == ("premise", "hypothesis")
    assert columns_by_name(["foo", "label"]) is None
    assert columns_by_name(["text", "bar"]) is None


def test_unusable_candidates_are_skipped_with_a_warning_naming_them(
    qa_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    no_columns = write_jsonl(tmp_path / "odd.jsonl", [{"foo": "x", "bar": "y"}])
    candidates = [entry("acme/not-on-disk-and-hub-offline"), entry(no_columns), entry(qa_file)]

    with caplog.at_level(logging.WARNING):
        used = use_retrieved_dataset(candidates, TASK)

    assert used is not None and used.name == str(qa_file)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings[0].startswith(
        "retrieved dataset acme/not-on-disk-and-hub-offline skipped: cannot load dataset"
    )
    assert warnings[1] == (
        f"retrieved dataset {no_columns} skipped: no usable input and output columns among foo, bar; "
        "name them with --retrieved-columns IN[,IN...]->OUT"
    )


def test_only_the_best_few_candidates_are_tried(qa_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    candidates = [entry(f"acme/missing-{n}") for n in range(MAX_TRIES)] + [entry(qa_file)]

    with caplog.at_level(logging.WARNING):
        assert use_retrieved_dataset(candidates, TASK) is None

    assert caplog.records[-1].getMessage() == f"none of the {MAX_TRIES} best retrieved datasets was usable"


def test_a_picked_dataset_wins_and_its_failure_is_an_error(qa_file: Path) -> None:
    used = use_retrieved_dataset([entry("acme/best")], TASK, pick=str(qa_file), columns="question->answer")

    assert used is not None and used.name == str(qa_file) and used.config is None
    assert used.examples[0] == Example("Capital of France?", "Paris")
    with pytest.raises(
        P2MError, match="has no column 'nope'; available columns: id, question, passage, answer"
    ):
        use_retrieved_dataset([], TASK, pick=str(qa_file), columns="nope->answer")
    with pytest.raises(P2MError, match=r"cannot load dataset acme/absent \(cfg\)"):
        use_retrieved_dataset([], TASK, pick="acme/absent:cfg")


def test_class_labels_become_their_names_and_rows_are_capped(tmp_path: Path) -> None:
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["negative", "positive"])}
    )
    rows = {"text": ["good", "bad", "fine", "meh"], "label": [1, 0, 1, -1]}
    folder = tmp_path / "reviews"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows, features=features)}).save_to_disk(folder)

    used = use_retrieved_dataset([entry(folder)], TASK, limit=2)

    assert used is not None
    assert used.examples == (Example("good", "positive"), Example("bad", "negative"))


def test_labelled_stage_writes_the_users_rows_then_the_retrieved_ones(tmp_path: Path, qa_file: Path) -> None:
    user_file = write_jsonl(tmp_path / "mine.jsonl", [{"input": "Q: 3+3?", "output": "6"}])
    task_path = tmp_path / "task.json"
    write_json(task_path, TASK.to_dict())
    mapped = entry(qa_file, input_columns=("question", "passage"), output_column="answer")

    stats = labelled_stage(task_path, tmp_path / "labelled", LabelledData(user_file), [mapped])

    rows = [json.loads(line) for line in (tmp_path / "labelled" / "examples.jsonl").read_text().splitlines()]
    assert rows == [
        {"input": "Q: 3+3?", "output": "6", "origin": "dataset"},
        *({**e.to_dict(), "origin": "retrieved"} for e in QA_EXAMPLES),
    ]
    assert stats == json.loads((tmp_path / "labelled" / "stats.json").read_text())
    assert stats["dataset"] == 1 and stats["retrieved"] == 2
    assert stats["retrieved_dataset"]["columns_from"] == "catalog"


def test_labelled_stage_without_data_writes_an_empty_file(tmp_path: Path) -> None:
    task_path = tmp_path / "task.json"
    write_json(task_path, TASK.to_dict())

    stats = labelled_stage(task_path, tmp_path / "labelled")

    assert stats == {"dataset": 0, "retrieved": 0, "retrieved_dataset": None}
    assert (tmp_path / "labelled" / "examples.jsonl").read_text() == ""
