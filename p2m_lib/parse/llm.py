"""LLM prompt parser: a capable teacher splits the prompt into instruction and demonstrations.

The teacher answers in JSON, {"instruction": str, "examples": [{"input": str, "output": str}]};
the reply is read leniently (code fences and chatter around the object are fine) and checked
strictly: a demonstration that does not occur in the prompt was invented and fails the reply.
A failed reply is asked for again with the problem stated, first at temperature 0, then a
little higher. A non-English instruction is also translated to English for retrieval.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from p2m_lib.errors import P2MError
from p2m_lib.llm.base import first_json_object
from p2m_lib.parse.language import looks_english
from p2m_lib.types import Example, SamplingParams, TaskSpec

if TYPE_CHECKING:
    from p2m_lib.llm.base import Teacher

logger = logging.getLogger(__name__)

_REQUEST = """Split the prompt below into its instruction and its demonstrations.
The instruction says what the model must do. A demonstration is an input and the output \
expected for it, given in the prompt as an example.
Reply with one JSON object and nothing else:
{{"instruction": "...", "examples": [{{"input": "...", "output": "..."}}]}}
Copy every input and output exactly as the prompt writes it, without its label; never invent \
demonstrations, and give an empty list when the prompt has none. Keep the instruction in the \
prompt's language.

Prompt:
\"\"\"
{prompt}
\"\"\"
"""
_RETRY = "\nYour last reply could not be used: {problem}\nReply again with the corrected JSON object only.\n"
_TRANSLATION_REQUEST = """Translate this task instruction into English. Reply with the translation only.

{instruction}
"""
# Temperature by attempt: deterministic first, then a little randomness to get out of a rut.
_TEMPERATURES = (0.0, 0.3, 0.5)
_MAX_REPLY_TOKENS = 4096
_QUOTE_CHARS = 60

_FENCE_LINE = re.compile(r"^[^\S\n]*```[\w-]*[^\S\n]*(?:\n|$)", re.MULTILINE)
_TRANSLATION_LABEL = re.compile(r"^(?:english(?: translation)?|translation)\s*:\s*", re.IGNORECASE)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


class _UnusableReply(Exception):
    """The teacher's reply cannot be used; the message says why, for the retry request."""


def parse_with_llm(prompt: str, teacher: Teacher, max_attempts: int = 3) -> TaskSpec:
    """Ask the teacher to split `prompt` into instruction and demonstrations.

    Args:
        prompt: The user's prompt text.
        teacher: A capable teacher LLM (see p2m_lib.llm.base.Teacher).
        max_attempts: Requests for the split before giving up.

    Returns:
        The TaskSpec; `retrieval_instruction` holds an English translation when the
        instruction does not look English (p2m_lib.parse.language), and is empty otherwise.

    Raises:
        P2MError: No reply was usable; the message gives the last reply's problem.
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
    problem = ""
    for attempt in range(max_attempts):
        request = _REQUEST.format(prompt=prompt) + (_RETRY.format(problem=problem) if problem else "")
        reply = _ask(teacher, request, _temperature(attempt), _reply_budget(prompt))
        try:
            instruction, examples = _validated(_json_object(reply), prompt)
        except _UnusableReply as error:
            problem = str(error)
            logger.info("LLM parser attempt %d/%d unusable: %s", attempt + 1, max_attempts, problem)
            continue
        return TaskSpec(instruction, examples, prompt, english_instruction(instruction, teacher))
    raise P2MError(
        f"the LLM parser ({teacher.name}) got no usable reply in {max_attempts} attempts; "
        f"last problem: {problem}"
    )


def _ask(teacher: Teacher, request: str, temperature: float, max_tokens: int) -> str:
    """The teacher's one reply to `request` ("" when it gave none)."""
    params = SamplingParams(n=1, temperature=temperature, max_tokens=max_tokens, instruction=True)
    texts = teacher.complete([request], params)[0].texts
    return texts[0] if texts else ""


def _temperature(attempt: int) -> float:
    return _TEMPERATURES[min(attempt, len(_TEMPERATURES) - 1)]


def _reply_budget(prompt: str) -> int:
    """Tokens for a reply that restates most of `prompt`: about a token per two characters."""
    return min(_MAX_REPLY_TOKENS, 256 + len(prompt) // 2)


def _json_object(reply: str) -> dict[str, Any]:
    value = first_json_object(reply)
    if value is None:
        raise _UnusableReply("the reply holds no JSON object")
    return value


def _validated(reply: dict[str, Any], prompt: str) -> tuple[str, tuple[Example, ...]]:
    """The instruction and demonstrations of a reply, checked against the prompt."""
    instruction = reply.get("instruction")
    if not isinstance(instruction, str) or not instruction.strip():
        raise _UnusableReply('"instruction" must be a non-empty string')
    items = reply.get("examples", [])
    if not isinstance(items, list):
        raise _UnusableReply('"examples" must be a list of {"input": ..., "output": ...} objects')
    examples = tuple(_example(number, item, prompt) for number, item in enumerate(items, 1))
    return instruction.strip(), examples


def _example(number: int, item: object, prompt: str) -> Example:
    """One demonstration of the reply, as the prompt writes it; it must occur there, whitespace aside."""
    if not isinstance(item, dict):
        raise _UnusableReply(f'example {number} must be an object {{"input": ..., "output": ...}}')
    values = {}
    for field in ("input", "output"):
        value = item.get(field)
        if not isinstance(value, str) or not value.strip():
            raise _UnusableReply(f'example {number} needs a non-empty string "{field}"')
        written = _as_written(value, prompt)
        if written is None:
            raise _UnusableReply(
                f'example {number} {field} "{_quoted(value)}" does not occur in the prompt; copy '
                "demonstrations exactly, never invent them"
            )
        values[field] = written
    return Example(values["input"], values["output"])


def _as_written(value: str, prompt: str) -> str | None:
    """The first stretch of `prompt` that holds `value`'s characters in order, whitespace aside.

    Models tidy spacing when they copy ("a gem of a movie ." comes back "a gem of a movie."); the
    demonstration keeps the user's own text, which is the format the test inputs come in.
    """
    characters = "".join(value.split())
    pattern = r"\s*".join(map(re.escape, characters))
    match = re.search(pattern, prompt)
    return match.group(0) if match else None


def _squashed(text: str) -> str:
    return " ".join(text.split())


def _quoted(text: str) -> str:
    """`text` on one line, shortened for an error message."""
    line = _squashed(text)
    return line if len(line) <= _QUOTE_CHARS else line[: _QUOTE_CHARS - 1] + "…"


def english_instruction(instruction: str, teacher: Teacher) -> str:
    """An English translation of a non-English instruction, for retrieval; empty when English or
    untranslated."""
    if looks_english(instruction):
        return ""
    request = _TRANSLATION_REQUEST.format(instruction=instruction)
    try:
        reply = _ask(teacher, request, 0.0, _reply_budget(instruction))
    except P2MError as error:
        # The split itself succeeded; retrieval can do with the instruction as written.
        logger.warning("could not translate the instruction (%s); retrieval uses it as written", error)
        return ""
    translation = _translation(reply)
    if not translation:
        logger.warning("the instruction's translation came back empty; retrieval uses it as written")
    return translation


def _translation(reply: str) -> str:
    """The translation in a reply: its first paragraph, without fences, quotes or a label."""
    text = _FENCE_LINE.sub("", reply).strip()
    first_paragraph = _PARAGRAPH_BREAK.split(text, maxsplit=1)[0]
    return _TRANSLATION_LABEL.sub("", first_paragraph).strip().strip("\"“”'").strip()
