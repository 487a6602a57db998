"""The paper's textualisation, pinned to exact strings, and its round trip through a model folder."""

import pytest

from p2m_lib.errors import P2MError
from p2m_lib.process import TEMPLATE_FILE, TaskTemplate

DECODER_PROMPT = "<task 0>\nTranslate to French.\nExample:\nGood morning\nLabel:\n"


def test_decoder_only_prompt_is_the_papers_layout():
    template = TaskTemplate("Translate to French.", "decoder-only")

    assert template.prompt("Good morning") == DECODER_PROMPT


def test_encoder_decoder_prompt_is_the_same_layout():
    template = TaskTemplate("Translate to French.", "encoder-decoder")

    assert template.prompt("Good morning") == DECODER_PROMPT


def test_decoder_only_training_text_is_prompt_output_and_eos():
    template = TaskTemplate("Translate to French.", "decoder-only")

    text = template.training_text("Good morning", " Bonjour \n", "<|im_end|>")

    assert text == DECODER_PROMPT + "Bonjour<|im_end|>"


def test_encoder_decoder_has_no_single_training_text():
    with pytest.raises(ValueError):
        TaskTemplate("x", "encoder-decoder").training_text("a", "b", "</s>")


def test_outer_whitespace_is_stripped_and_inner_lines_kept():
    template = TaskTemplate("  Answer.\n", "decoder-only", task_tag="<task 3>")

    assert (
        template.prompt("\nq: one\ncontext: two \n")
        == "<task 3>\nAnswer.\nExample:\nq: one\ncontext: two\nLabel:\n"
    )


def test_empty_task_tag_leaves_its_line_out():
    assert (
        TaskTemplate("Answer.", "decoder-only", task_tag="").prompt("x") == "Answer.\nExample:\nx\nLabel:\n"
    )


def test_a_template_without_the_instruction_in_prompt_leaves_its_line_out():
    template = TaskTemplate("Translate to French.", "decoder-only", instruction_in_prompt=False)

    assert template.prompt("Good morning") == "<task 0>\nExample:\nGood morning\nLabel:\n"
    assert template.instruction == "Translate to French."


def test_unknown_kind_is_refused():
    with pytest.raises(P2MError, match="unknown model kind"):
        TaskTemplate("x", "decoder")


@pytest.mark.parametrize(
    ("generated", "answer"),
    [
        (" Bonjour \n", "Bonjour"),
        ("Bonjour\n\nExample:\nGood night\nLabel:\nBonne nuit", "Bonjour"),
        ("Bonjour\nLabel:\nSalut", "Bonjour"),
        ("Bonjour\n  <task 0>\nTranslate", "Bonjour"),
        ("line one\nline two", "line one\nline two"),
        ("An Example: inline stays", "An Example: inline stays"),
        ("\nExample:\nnothing before", ""),
    ],
)
def test_answer_is_cut_where_a_new_block_starts(generated, answer):
    assert TaskTemplate("Translate to French.", "decoder-only").answer(generated) == answer


def test_save_and_load_round_trip(tmp_path):
    template = TaskTemplate("Translate to French.", "encoder-decoder", task_tag="<task 1>")

    path = template.save(tmp_path)

    assert path == tmp_path / TEMPLATE_FILE
    assert TaskTemplate.load(tmp_path) == template


def test_a_template_without_the_instruction_in_prompt_is_loaded_so(tmp_path):
    template = TaskTemplate("Translate to French.", "decoder-only", instruction_in_prompt=False)
    template.save(tmp_path)

    assert TaskTemplate.load(tmp_path) == template


def test_a_template_saved_before_the_choice_existed_keeps_the_instruction(tmp_path):
    (tmp_path / TEMPLATE_FILE).write_text(
        '{"instruction": "Translate to French.", "kind": "decoder-only", "task_tag": "<task 0>"}'
    )

    assert TaskTemplate.load(tmp_path).prompt("Good morning") == DECODER_PROMPT


def test_load_from_a_folder_without_template_names_the_file(tmp_path):
    with pytest.raises(P2MError, match=TEMPLATE_FILE):
        TaskTemplate.load(tmp_path)
