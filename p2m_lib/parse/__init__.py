"""Parse: the user's prompt file to a TaskSpec (instruction, demonstrations).

The deterministic parser (`parse_rules`) splits every prompt whose demonstrations carry known
input and output labels, and is the offline default; a capable teacher LLM parses the others
(`parse_with_llm`), the rules taking over when it fails.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from p2m_lib.errors import P2MError
from p2m_lib.parse.layout import with_layout
from p2m_lib.parse.llm import english_instruction, parse_with_llm
from p2m_lib.parse.prompt_file import read_prompt
from p2m_lib.parse.rules import has_known_labels, parse_rules
from p2m_lib.types import TaskSpec

if TYPE_CHECKING:
    from p2m_lib.llm.base import Teacher

__all__ = ["parse_prompt", "parse_rules", "parse_with_llm", "read_prompt"]

logger = logging.getLogger(__name__)


def parse_prompt(prompt: str, teacher: Teacher | None = None) -> TaskSpec:
    """Split a prompt into its instruction and demonstrations.

    Args:
        prompt: The user's prompt text.
        teacher: A teacher LLM; only a capable one (`capable=True`) is asked to parse, since a
            tiny local model cannot follow the JSON request, and only a prompt whose labels the
            rules do not know: on "Input:"/"Output:" prompts the LLM gave the rules' split after
            40 s, or after 13 minutes of miscopied demonstrations on German tweets (DESIGN.md,
            Parse). A capable teacher still translates a non-English instruction for retrieval.

    Returns:
        The TaskSpec, with the prompt's layout and bare demonstration inputs (`with_layout`).

    Raises:
        P2MError: The deterministic parser found no instruction (see `parse_rules`).
    """
    if teacher is None or not teacher.capable:
        return with_layout(parse_rules(prompt))
    if has_known_labels(prompt):
        task = parse_rules(prompt)
        english = english_instruction(task.instruction, teacher)
        return with_layout(replace(task, retrieval_instruction=english))
    try:
        return with_layout(parse_with_llm(prompt, teacher))
    except P2MError as error:
        logger.warning("LLM prompt parsing failed (%s); using the deterministic parser", error)
        return with_layout(parse_rules(prompt))
