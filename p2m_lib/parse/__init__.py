"""Parse: the user's prompt file to a TaskSpec (instruction, demonstrations).

A capable teacher LLM parses when one is given (`parse_with_llm`); the deterministic parser
(`parse_rules`) is the offline default and the fallback when the LLM parser fails.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from p2m_lib.errors import P2MError
from p2m_lib.parse.layout import with_layout
from p2m_lib.parse.llm import parse_with_llm
from p2m_lib.parse.prompt_file import read_prompt
from p2m_lib.parse.rules import parse_rules
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
            tiny local model cannot follow the JSON request.

    Returns:
        The TaskSpec, with the prompt's layout and bare demonstration inputs (`with_layout`).

    Raises:
        P2MError: The deterministic parser found no instruction (see `parse_rules`).
    """
    if teacher is None or not teacher.capable:
        return with_layout(parse_rules(prompt))
    try:
        return with_layout(parse_with_llm(prompt, teacher))
    except P2MError as error:
        logger.warning("LLM prompt parsing failed (%s); using the deterministic parser", error)
        return with_layout(parse_rules(prompt))
