"""A classification student answers among its labels, the teacher's mix of labels divided out."""

import json
import math
from dataclasses import replace

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from p2m_lib.config import TrainConfig
from p2m_lib.process import TEMPLATE_FILE, TaskTemplate
from p2m_lib.stages import train_stage, write_json, write_jsonl
from p2m_lib.train import StudentPredictor
from p2m_lib.train.encoding import IGNORE_INDEX, encode_example, prompt_ids, target_ids
from p2m_lib.train.labels import _after_shared_prompts, choose_labels, teacher_label_counts
from p2m_lib.types import Example, TaskSpec

DEMONSTRATIONS = (Example("what a film", "positive"), Example("dull and long", "negative"))
INPUTS = ["a warm story", "I left early", "the cast shines", "flat jokes", "so so"]


def _rows(outputs, source="generated"):
    return [{"input": f"review {i}", "output": output, "source": source} for i, output in enumerate(outputs)]


def test_counts_each_label_of_a_classification_task_under_its_commonest_spelling():
    rows = _rows(["positive"] * 12 + [" Positive"] * 2 + ["negative"] * 6)
    assert teacher_label_counts(DEMONSTRATIONS, rows) == {"positive": 14, "negative": 6}


def test_a_label_the_teacher_never_wrote_is_left_out():
    demonstrations = DEMONSTRATIONS + (Example("it is a film", "neutral"),)
    rows = _rows(["positive"] * 15 + ["negative"] * 5)
    assert teacher_label_counts(demonstrations, rows) == {"positive": 15, "negative": 5}


def test_no_counts_for_a_task_whose_outputs_are_not_the_demonstrations_labels():
    demonstrations = (Example("March 7, 1994", "1994-03-07"), Example("12/25/1987", "1987-12-25"))
    rows = _rows([f"2001-01-{day:02d}" for day in range(1, 25)])
    assert teacher_label_counts(demonstrations, rows) == {}


def test_no_counts_when_any_training_row_is_a_users_labelled_row():
    rows = _rows(["positive"] * 14 + ["negative"] * 6) + _rows(["negative"], source="dataset")
    assert teacher_label_counts(DEMONSTRATIONS, rows) == {}


def _load(model_dir, kind):
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.model_max_length = 24  # short enough to cut the longest input's prompt
    model_class = AutoModelForCausalLM if kind == "decoder-only" else AutoModelForSeq2SeqLM
    return model_class.from_pretrained(model_dir).eval(), tokenizer


@pytest.fixture(scope="module")
def tiny_model(tiny_causal_lm_dir):
    return _load(tiny_causal_lm_dir, "decoder-only")


def _log_likelihood(model, tokenizer, template, text, label, max_length=None):
    """log p(label, EOS | prompt), from one unpadded forward pass over the pair as training encodes it."""
    row = encode_example(tokenizer, template, text, label, max_length or tokenizer.model_max_length)
    ids, targets = torch.tensor([row["input_ids"]]), torch.tensor([row["labels"]])
    with torch.no_grad():
        if template.kind == "decoder-only":
            logits, targets = model(ids).logits[:, :-1], targets[:, 1:]
        else:
            logits = model(input_ids=ids, labels=targets).logits
    log_probs = torch.log_softmax(logits.float(), dim=-1)[0]
    return sum(
        log_probs[t, token].item() for t, token in enumerate(targets[0].tolist()) if token != IGNORE_INDEX
    )


# Labels of one token and of several, so that the labels read after a shared prompt differ in length.
COUNTS = {"positive": 30, "negative": 10, "mixed feelings about it": 5}
LONG_INPUT = "a story that goes on and on about the cast, the sets, the music and the weather"


@pytest.mark.parametrize("kind", ["decoder-only", "encoder-decoder"])
@pytest.mark.parametrize("batch_size", [1, 2, 8])
def test_answers_the_label_most_likely_once_its_share_of_training_rows_is_divided_out(
    tiny_causal_lm_dir, tiny_t5_dir, kind, batch_size
):
    model, tokenizer = _load(tiny_causal_lm_dir if kind == "decoder-only" else tiny_t5_dir, kind)
    template = TaskTemplate("Classify.", kind, label_counts=COUNTS)
    inputs = [*INPUTS, LONG_INPUT]
    lengths = {label: len(target_ids(tokenizer, label)) for label in COUNTS}
    # A decoder-only prompt is cut to leave room for the longest label (5 tokens with its EOS), as
    # training would cut it before that label; an encoder-decoder prompt to the whole length.
    room = {
        label: 24 - max(lengths.values()) + lengths[label] if kind == "decoder-only" else 24
        for label in COUNTS
    }
    expected = [
        max(
            COUNTS,
            key=lambda label: (
                _log_likelihood(model, tokenizer, template, text, label, room[label])
                - math.log(COUNTS[label] / 45)
            ),
        )
        for text in inputs
    ]
    assert choose_labels(model, tokenizer, template, inputs, batch_size=batch_size) == expected


@pytest.mark.parametrize("batch_size", [1, 2, 8])
def test_labels_read_after_a_shared_prompt_score_as_each_pair_read_alone(tiny_model, batch_size):
    """The log-likelihoods themselves, for prompts of several lengths and labels of several."""
    model, tokenizer = tiny_model
    template = TaskTemplate("Classify.", "decoder-only", label_counts=COUNTS)
    # Nothing cut: every prompt is read whole, alone and shared.
    alone = [
        [_log_likelihood(model, tokenizer, template, text, label, max_length=512) for label in COUNTS]
        for text in INPUTS
    ]
    targets = [target_ids(tokenizer, label) for label in COUNTS]
    shared = []
    for start in range(0, len(INPUTS), batch_size):
        prompts = [prompt_ids(tokenizer, template, text) for text in INPUTS[start : start + batch_size]]
        with torch.no_grad():
            shared.append(_after_shared_prompts(model, tokenizer.eos_token_id, prompts, targets))
    assert torch.allclose(torch.cat(shared), torch.tensor(alone), atol=1e-4)


def test_a_label_the_teacher_wrote_rarely_wins_where_the_model_barely_prefers_the_common_one(tiny_model):
    model, tokenizer = tiny_model
    template = TaskTemplate("Classify.", "decoder-only")
    text = INPUTS[0]
    likely, unlikely = sorted(
        ["positive", "negative"], key=lambda label: -_log_likelihood(model, tokenizer, template, text, label)
    )
    margin = _log_likelihood(model, tokenizer, template, text, likely) - _log_likelihood(
        model, tokenizer, template, text, unlikely
    )
    # The likely label was written e^(margin + 1) times as often: divided out, the other one wins.
    skewed = {likely: round(math.exp(margin + 1) * 10), unlikely: 10}
    assert choose_labels(model, tokenizer, replace(template, label_counts=skewed), [text]) == [unlikely]
    even = {likely: 10, unlikely: 10}
    assert choose_labels(model, tokenizer, replace(template, label_counts=even), [text]) == [likely]


def _train_on(rows, tiny_causal_lm_dir, tmp_path):
    task = TaskSpec("Classify the review: positive or negative.", DEMONSTRATIONS)
    write_json(tmp_path / "task.json", task.to_dict())
    write_jsonl(tmp_path / "data" / "train.jsonl", rows)
    write_jsonl(tmp_path / "data" / "val.jsonl", _rows(["positive", "negative"]))
    config = TrainConfig(max_steps=1, batch_size=2, max_length=64)
    train_stage(
        tmp_path / "task.json",
        tmp_path / "data",
        str(tiny_causal_lm_dir),
        config,
        tmp_path / "model",
        tmp_path / "ckpt",
    )
    return tmp_path / "model"


def test_a_student_trained_on_the_teachers_labels_saves_their_counts_and_answers_among_them(
    tiny_causal_lm_dir, tmp_path
):
    model_dir = _train_on(_rows(["positive"] * 14 + ["negative"] * 6), tiny_causal_lm_dir, tmp_path)
    saved = json.loads((model_dir / TEMPLATE_FILE).read_text())
    assert saved["label_counts"] == {"positive": 14, "negative": 6}
    assert "Training rows: positive 14, negative 6." in (model_dir / "README.md").read_text()
    answers = StudentPredictor.load(model_dir).predict(INPUTS)
    assert len(answers) == len(INPUTS) and set(answers) <= {"positive", "negative"}


def test_a_student_trained_on_a_users_labelled_rows_writes_its_answers(tiny_causal_lm_dir, tmp_path):
    rows = _rows(["positive"] * 14 + ["negative"] * 6) + _rows(["negative"], source="dataset")
    model_dir = _train_on(rows, tiny_causal_lm_dir, tmp_path)
    assert json.loads((model_dir / TEMPLATE_FILE).read_text())["label_counts"] == {}
    assert "## Answers" not in (model_dir / "README.md").read_text()
    # An untrained two-layer model's greedy answers are word salad, not the task's labels.
    answers = StudentPredictor.load(model_dir).predict(INPUTS, max_new_tokens=3)
    assert not set(answers) <= {"positive", "negative"}
