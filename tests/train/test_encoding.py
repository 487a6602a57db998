"""Token ids and label masks for training, pinned on the real SmolLM2 tokenizer."""

import pytest
from transformers import AutoTokenizer

from p2m_lib.process import TaskTemplate
from p2m_lib.train import IGNORE_INDEX, encode_example, make_collator, truncate_middle

M = IGNORE_INDEX
EOS = 2  # SmolLM2's <|im_end|>, which is also its padding token.
# "<task 0>\nCopy.\nExample:\n" then the input, then "\nLabel:\n".
HEAD = [44, 10738, 216, 32, 46, 198, 32601, 30, 198, 8412, 42, 198]
TAIL = [198, 17213, 42, 198]
HI, HELLO_WORLD = [6004], [28120, 905]
THERE, X_Y = [11527], [104, 329]


@pytest.fixture(scope="module")
def tokenizer(smollm2_tokenizer_dir):
    return AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)


DECODER = TaskTemplate("Copy.", "decoder-only")


def test_decoder_only_labels_mask_the_prompt_and_keep_output_and_eos(tokenizer):
    encoded = encode_example(tokenizer, DECODER, "hi", "there", max_length=128)

    prompt = HEAD + HI + TAIL
    assert encoded["input_ids"] == prompt + THERE + [EOS]
    assert encoded["labels"] == [M] * len(prompt) + THERE + [EOS]
    assert encoded["attention_mask"] == [1] * (len(prompt) + 2)


def test_collated_batch_pads_ids_with_eos_and_labels_with_ignore_index(tokenizer):
    tokenizer.padding_side = "right"
    rows = [
        encode_example(tokenizer, DECODER, i, o, 128) for i, o in [("hi", "there"), ("hello world", "x y")]
    ]

    batch = make_collator(tokenizer)(rows)

    short, long = HEAD + HI + TAIL, HEAD + HELLO_WORLD + TAIL
    assert batch["input_ids"].tolist() == [short + THERE + [EOS, EOS, EOS], long + X_Y + [EOS]]
    # The pad id equals the EOS id: only the first EOS of the short row is a target.
    assert batch["labels"].tolist() == [
        [M] * len(short) + THERE + [EOS, M, M],
        [M] * len(long) + X_Y + [EOS],
    ]
    assert batch["attention_mask"].tolist() == [[1] * 19 + [0, 0], [1] * 21]


def test_encoder_decoder_input_is_the_prompt_and_labels_the_output(tokenizer):
    encoded = encode_example(tokenizer, TaskTemplate("Copy.", "encoder-decoder"), "hi", "there", 128)

    assert encoded == {"input_ids": HEAD + HI + TAIL, "attention_mask": [1] * 17, "labels": THERE + [EOS]}


def test_a_long_prompt_loses_its_middle_and_the_output_is_kept(tokenizer):
    encoded = encode_example(tokenizer, DECODER, "hi", "there", max_length=8)

    assert encoded["input_ids"] == HEAD[:3] + TAIL[-3:] + THERE + [EOS]
    assert encoded["labels"] == [M] * 6 + THERE + [EOS]


def test_a_long_output_keeps_half_the_length(tokenizer):
    output = "one two three four five six seven eight nine ten"

    encoded = encode_example(tokenizer, DECODER, "hi", output, max_length=8)

    assert encoded["input_ids"] == HEAD[:2] + TAIL[-2:] + tokenizer(output)["input_ids"][:4]
    assert encoded["labels"][:4] == [M] * 4


@pytest.mark.parametrize(
    ("ids", "budget", "kept"),
    [([1, 2, 3], 5, [1, 2, 3]), ([1, 2, 3, 4, 5, 6], 4, [1, 2, 5, 6]), ([1, 2, 3, 4, 5, 6], 3, [1, 5, 6])],
)
def test_truncate_middle(ids, budget, kept):
    assert truncate_middle(ids, budget) == kept
