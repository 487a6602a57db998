"""The training recipe's choices, each pinned exactly: steps from the data size, the loss on
output tokens only (computed from the target logits alone), the checkpoint kept and early
stopping on the validation split, the time budget, and where decoding stops.
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as transformers_logging

from p2m_lib.config import LORA_LEARNING_RATE, PROFILES, TrainConfig, tuned_training
from p2m_lib.errors import P2MError
from p2m_lib.evaluate.metrics import exact_match
from p2m_lib.process import TaskTemplate
from p2m_lib.train import StudentPredictor, encode_example, make_collator, planned_steps, train
from p2m_lib.train.encoding import IGNORE_INDEX, target_window
from p2m_lib.train.predict import cut_at_stop
from p2m_lib.train.recipe import stop_strings, validation_interval, validation_rows
from p2m_lib.train.selection import is_kept, validation_tolerance, validations_without_progress
from p2m_lib.train.validating_trainer import target_loss

M = IGNORE_INDEX
TEMPLATE = TaskTemplate("Repeat the word.", "decoder-only")
ROWS = [{"input": f"word {i}", "output": f"w{i}"} for i in range(12)]
# The tiny model starts from random weights: its embeddings must learn too.
TINY = TrainConfig(epochs=1, learning_rate=1e-3, batch_size=4, max_length=64, seed=3, freeze_embeddings=False)


# Steps from the data size.


@pytest.mark.parametrize(
    ("rows", "epochs", "min_steps", "max_steps", "steps"),
    [
        (190, 3, 30, 60, 60),  # the quick profile on 190 rows: 72 planned, capped at 60
        (40, 3, 30, 60, 30),  # 40 rows: 15 planned, raised to 30 so a small set is learnt
        (100, 3, 30, 60, 39),  # in between: 3 epochs of 13 batches
        (100, 3, 0, 0, 39),  # no bounds
        (1, 1, 0, 0, 1),
    ],
)
def test_steps_come_from_the_data_size_within_bounds(rows, epochs, min_steps, max_steps, steps):
    config = TrainConfig(epochs=epochs, batch_size=8, min_steps=min_steps, max_steps=max_steps)

    assert planned_steps(rows, config) == steps


@pytest.mark.parametrize(("total", "every", "interval"), [(60, 0, 12), (61, 0, 13), (3, 0, 1), (60, 7, 7)])
def test_about_five_validations_per_run(total, every, interval):
    assert validation_interval(total, TrainConfig(eval_every=every)) == interval


def test_the_quick_profile_is_bounded_by_steps_with_the_time_budget_only_a_safety_net():
    quick = PROFILES["quick"].train

    assert (quick.min_steps, quick.max_steps, quick.patience) == (100, 150, 2)
    # An hour: far beyond the few minutes the steps take, so a busy machine trains the same model.
    assert quick.time_budget_s == 3600
    assert [planned_steps(rows, quick) for rows in (40, 300, 500)] == [100, 114, 150]


def test_lora_comes_with_its_own_learning_rate_unless_one_is_given():
    quick = PROFILES["quick"].train

    assert tuned_training(quick) == quick
    assert tuned_training(quick, lora=True) == replace(quick, lora=True, learning_rate=LORA_LEARNING_RATE)
    lora_at_3e_4 = tuned_training(quick, lora=True, learning_rate=3e-4)
    assert lora_at_3e_4 == replace(quick, lora=True, learning_rate=3e-4)
    assert tuned_training(quick, learning_rate=2e-5) == replace(quick, learning_rate=2e-5)
    with pytest.raises(P2MError, match="the learning rate must be between 0 and 1 \\(exclusive\\), not 5"):
        tuned_training(quick, learning_rate=5)


# Loss on the output tokens only.


@pytest.fixture(scope="module")
def tokenizer(smollm2_tokenizer_dir):
    return AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)


def test_left_padded_batch_ends_every_row_together_with_positions_from_the_first_token(tokenizer):
    rows = [
        encode_example(tokenizer, TEMPLATE, i, o, 64) for i, o in [("hi", "there"), ("hello world", "x y")]
    ]

    batch = make_collator(tokenizer, "left")(rows)

    short, long = rows[0]["input_ids"], rows[1]["input_ids"]
    assert len(long) == len(short) + 2
    assert batch["input_ids"].tolist() == [[2, 2] + short, long]
    assert batch["attention_mask"].tolist() == [[0, 0] + [1] * len(short), [1] * len(long)]
    assert batch["labels"].tolist() == [[M, M] + rows[0]["labels"], rows[1]["labels"]]
    assert batch["position_ids"].tolist() == [[0, 0, *range(len(short))], list(range(len(long)))]


def test_target_window_covers_every_target_and_the_position_before_it():
    labels = torch.tensor([[M, M, M, M, 5, 6], [M, M, M, 7, 8, 9], [M, M, M, M, M, 4]])

    # The earliest target is in column 3, predicted by the logits of column 2: the last 4 columns.
    assert target_window(labels) == 4
    assert target_window(torch.tensor([[1, 2, 3]])) == 3  # never more than the row


def test_loss_from_the_target_logits_equals_the_full_shifted_loss_on_outputs(tiny_causal_lm_dir, tokenizer):
    model = AutoModelForCausalLM.from_pretrained(tiny_causal_lm_dir).eval()
    pairs = [("hi", "there"), ("hello world", "x y"), ("a much longer input than the others", "z")]
    rows = [encode_example(tokenizer, TEMPLATE, i, o, 64) for i, o in pairs]
    left = make_collator(tokenizer, "left")(rows)

    with torch.no_grad():
        reference = model(**make_collator(tokenizer, "right")(rows)).loss
        loss, outputs = target_loss(model, left)

    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
    # Logits for the target window only: from the last prompt token of the longest prompt.
    assert outputs.logits.shape[:2] == (3, target_window(left["labels"]))
    assert outputs.logits.shape[1] < left["input_ids"].shape[1] // 2


# The checkpoint kept, and stopping, on the validation split.


@pytest.mark.parametrize(
    ("exact", "top", "kept"),
    [
        (50.0, 50.0, True),  # the first validation, or a new top
        (95.0, 100.0, True),  # one row below the top is a tie: the later step is kept
        (90.0, 100.0, False),  # two rows below
        (80.0, 90.0, True),  # two rows below 90: within two standard errors (13.4 points)
        (75.0, 90.0, False),
    ],
)
def test_exact_match_picks_the_checkpoint_and_noise_is_a_tie_the_later_step_wins(exact, top, kept):
    assert is_kept(exact, top, rows=20) is kept


def test_the_tolerance_is_two_standard_errors_and_at_least_one_row():
    assert validation_tolerance(40, 70.0) == pytest.approx(14.49, abs=0.01)
    # AG News from the prompt alone: step 24 at 72.5, step 120 at 65.0 on 40 rows; step 120 is kept.
    assert is_kept(65.0, 72.5, rows=40)
    assert validation_tolerance(20, 100.0) == 5.0
    assert validation_tolerance(0, 50.0) == 0.0


@pytest.mark.parametrize(
    ("history", "count"),
    [
        ([(12, 81.8, 0.10), (24, 68.2, 0.14), (36, 86.4, 0.13)], 0),  # a dip, then a higher score
        ([(12, 81.8, 0.10), (24, 68.2, 0.14), (36, 81.8, 0.12)], 2),  # back to the best: no progress
        ([(10, 100.0, 0.02), (20, 100.0, 0.01), (30, 100.0, 0.015)], 1),  # a lower loss is progress
        ([(1, 0.0, 5.0), (2, 0.0, 5.0), (3, 0.0, 5.0)], 2),
        ([], 0),
    ],
)
def test_patience_counts_validations_that_improve_neither_exact_match_nor_loss(history, count):
    assert validations_without_progress(history) == count


def test_validation_uses_the_labelled_rows_when_there_are_enough():
    labelled = [{"input": f"l{i}", "output": "x", "source": "dataset"} for i in range(10)]
    generated = [{"input": f"g{i}", "output": "y", "source": "generated"} for i in range(5)]

    assert validation_rows(generated + labelled) == labelled
    assert validation_rows(generated + labelled[:9]) == generated + labelled[:9]  # too few: all
    assert len(validation_rows(labelled * 10)) == 64


def _train(student, tmp_path, config, val_rows=ROWS[8:], **kwargs):
    return train(
        ROWS[:8], val_rows, student, TEMPLATE, config, tmp_path / "model", tmp_path / "ckpt", **kwargs
    )


def test_training_stops_after_patience_validations_without_a_better_one(tiny_causal_lm_dir, tmp_path):
    # With a zero learning rate every validation equals the first: none makes progress, and each
    # tie goes to the later step.
    config = replace(TINY, epochs=5, learning_rate=0.0, max_steps=10, eval_every=1, patience=2)

    result = _train(tiny_causal_lm_dir, tmp_path, config)

    assert (result.steps, result.best_step, result.stopped_by) == (3, 3, "early stopping")
    assert [step for step, _, _ in result.eval_history] == [1, 2, 3]
    rerun = _train(tiny_causal_lm_dir, tmp_path, config)  # a stopped run is not trained further
    assert (rerun.steps, rerun.resumed_from) == (3, str(tmp_path / "ckpt" / "checkpoint-3"))


def test_training_does_not_stop_early_before_its_min_steps(tiny_causal_lm_dir, tmp_path):
    config = replace(TINY, epochs=5, learning_rate=0.0, min_steps=6, max_steps=10, eval_every=1, patience=2)

    result = _train(tiny_causal_lm_dir, tmp_path, config)

    assert (result.steps, result.best_step, result.stopped_by) == (6, 6, "early stopping")
    assert [step for step, _, _ in result.eval_history] == [1, 2, 3, 4, 5, 6]


def test_the_time_budget_stops_training_and_keeps_the_best_model(tiny_causal_lm_dir, tmp_path):
    ticks = itertools.count(0.0, 10.0)  # every look at the clock is 10 s later
    config = replace(TINY, epochs=5, max_steps=10, eval_every=5, time_budget_s=25.0)

    result = _train(tiny_causal_lm_dir, tmp_path, config, clock=lambda: next(ticks))

    # Begin at 0 s; steps 1, 2, 3 end at 10, 20, 30 s: step 3 is over budget, validated and saved.
    assert (result.steps, result.stopped_by) == (3, "time budget")
    assert [step for step, _, _ in result.eval_history] == [3]


# Where decoding stops.


@pytest.mark.parametrize(
    ("outputs", "stops"),
    [(["2020-01-02", " Paris "], ["\n"]), (["line one\nline two", "x"], []), (["x\n"], ["\n"])],
)
def test_one_line_outputs_stop_at_the_end_of_the_line(outputs, stops):
    assert stop_strings(outputs) == stops


@pytest.mark.parametrize(
    ("text", "stops", "answer"),
    [
        ("2020-01-02\nLabel:\n2021", ["\n"], "2020-01-02"),
        ("\n Paris\nBerlin", ["\n"], "Paris"),
        ("a\nb", [], "a\nb"),
        ("x END y", ["\n", " END"], "x"),
    ],
)
def test_cut_at_stop(text, stops, answer):
    assert cut_at_stop(text, stops) == answer


class _ScriptedModel:
    """A stand-in model whose `generate` returns the prompt followed by fixed tokens."""

    def __init__(self, continuation, generation_config):
        self.continuation = continuation
        self.generation_config = generation_config
        self.device = torch.device("cpu")
        self.calls = []

    def generate(self, input_ids, attention_mask, **kwargs):
        self.calls.append(kwargs)
        tail = torch.tensor([self.continuation] * input_ids.shape[0])
        return torch.cat([input_ids, tail], dim=1)


def test_the_answer_ends_at_the_saved_stop_string_and_never_repeats_the_input(tokenizer):
    from transformers import GenerationConfig

    continuation = tokenizer("Paris\nBerlin\nExample:", add_special_tokens=False)["input_ids"]
    config = GenerationConfig(eos_token_id=2, pad_token_id=2, stop_strings=["\n"])
    model = _ScriptedModel(continuation, config)
    tokenizer.padding_side = "left"

    answers = StudentPredictor(model, tokenizer, TEMPLATE).predict(["fly to Paris", "Paris please"])

    assert answers == ["Paris", "Paris"]
    # generate() gets the tokenizer, which it needs to match stop strings.
    assert all(call["tokenizer"] is tokenizer for call in model.calls)
    model.generation_config = GenerationConfig(eos_token_id=2, pad_token_id=2)
    assert StudentPredictor(model, tokenizer, TEMPLATE).predict(["x"]) == ["Paris\nBerlin"]


# The whole recipe on a task the tiny model can learn.


def _copy_rows():
    """Two different letters, "q x": 650 pairs, shuffled; 30 for validation and 30 for the test."""
    pairs = [" ".join(pair) for pair in itertools.permutations("abcdefghijklmnopqrstuvwxyz", 2)]
    random.Random(0).shuffle(pairs)
    rows = [{"input": pair, "output": pair} for pair in pairs]
    return rows[:240], rows[240:270], rows[-30:]


def test_a_tiny_model_learns_to_copy_a_short_string(tiny_causal_lm_dir, tmp_path, caplog):
    """Copy "q x": exact match on unseen pairs rises from 0 to most of them (about 15 s)."""
    train_rows, val_rows, test_rows = _copy_rows()
    template = TaskTemplate("Copy the letters.", "decoder-only")
    config = TrainConfig(
        epochs=20, learning_rate=3e-3, batch_size=16, max_length=48, max_steps=300, warmup_ratio=0.1,
        patience=3, seed=0, freeze_embeddings=False,
    )  # fmt: skip

    transformers_logging.enable_propagation()
    try:
        result = train(
            train_rows, val_rows, tiny_causal_lm_dir, template, config, tmp_path / "m", tmp_path / "c"
        )
    finally:
        transformers_logging.disable_propagation()

    # Loading the best checkpoint restores the tied output layer with the embeddings: no warning.
    assert not [record for record in caplog.records if "missing keys" in record.getMessage()]
    inputs, expected = [row["input"] for row in test_rows], [row["output"] for row in test_rows]
    tokenizer = AutoTokenizer.from_pretrained(tiny_causal_lm_dir, padding_side="left")
    untrained = StudentPredictor(
        AutoModelForCausalLM.from_pretrained(tiny_causal_lm_dir).eval(), tokenizer, template
    )
    trained = StudentPredictor.load(Path(result.model_dir))
    assert exact_match(untrained.predict(inputs), expected) <= 10.0
    assert exact_match(trained.predict(inputs), expected) >= 80.0
    # The saved model is the one validation kept: it scores on the validation rows what it scored then.
    kept = {step: exact for step, exact, _ in result.eval_history}[result.best_step]
    assert (
        exact_match(trained.predict([r["input"] for r in val_rows]), [r["output"] for r in val_rows]) == kept
    )
    generation = json.loads((Path(result.model_dir) / "generation_config.json").read_text())
    assert generation["stop_strings"] == ["\n"]
