"""Completion-style prompts for the teacher, and lenient extraction of its replies.

Small models do not follow a big model's JSON instructions (SmolLM2-135M: 0 of 85 replies
usable, DESIGN.md) but continue a few-shot "Input:/Output:" pattern, and even the embedded
Qwen2.5-Coder-1.5B labels more accurately continuing one than answering a chat turn. So every
request is a pattern to continue, and each reply carries one thing: a new input, or the output
for a given input.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from p2m_lib.llm.base import first_text_line
from p2m_lib.types import Example

# A capable chat model answers a bare pattern with chatter; this line keeps it on the pattern.
CHAT_PREAMBLE = "Continue the pattern below. Reply with only the text that comes next, nothing else.\n\n"
INPUT_STOP = ("\nOutput:", "\nInput:", "\n\n")
# Not a bare "\n": the small teacher often starts its answer on a new line after "Output:".
# The answer is the first non-empty line of what comes before the next block; output requests ask
# for `first_line` too, so that a local teacher stops once that line has ended.
OUTPUT_STOP = ("\nInput:", "\n\n")
_INPUT_LABEL = re.compile(r"^\s*input\s*:\s*", re.IGNORECASE)
_OUTPUT_LABEL = re.compile(r"\boutput\s*:", re.IGNORECASE)


def few_shot_block(instruction: str, demonstrations: Sequence[Example]) -> str:
    """The instruction followed by each demonstration as an Input/Output pair."""
    pairs = "".join(f"Input: {d.input}\nOutput: {d.output}\n\n" for d in demonstrations)
    return f"{instruction.strip()}\n\n{pairs}"


def input_prompt(instruction: str, demonstrations: Sequence[Example], chat: bool = False) -> str:
    """A prompt whose continuation is one new input."""
    return (CHAT_PREAMBLE if chat else "") + few_shot_block(instruction, demonstrations) + "Input:"


def output_prompt(
    instruction: str, demonstrations: Sequence[Example], new_input: str, chat: bool = False
) -> str:
    """A prompt whose continuation is the output for `new_input`."""
    block = few_shot_block(instruction, demonstrations)
    return (CHAT_PREAMBLE if chat else "") + f"{block}Input: {new_input}\nOutput:"


def extract_input(reply: str) -> str:
    """The new input in a reply: a repeated "Input:" label dropped, anything from "Output:" on cut."""
    text = _INPUT_LABEL.sub("", reply.strip(), count=1)
    return _OUTPUT_LABEL.split(text, maxsplit=1)[0].strip()


def extract_output(reply: str) -> str:
    """The output in a reply: its first non-empty line, a repeated "Output:" label dropped."""
    return first_text_line(reply)[0]
