"""The layout of the user's prompt: how it presents an input, and a wrapper its inputs share.

Measured on a public sentiment set with arrow demonstrations (`Review: "The battery..." ->
positive`): the demonstrations' inputs kept the wrapper `Review: "…"`, generated inputs copied
it, the real test inputs were bare sentences, and the student trained on one format and scored on
the other answered at chance. So the wrapper is taken out of the demonstrations (everything the
student sees is bare), and kept in the layout, which puts any bare input back into the user's own
layout when the teacher is prompted as the user would prompt it (the baseline).
"""

from __future__ import annotations

import re
from dataclasses import replace

from p2m_lib.types import INPUT_SLOT, Example, PromptLayout, TaskSpec

# `Review: "…"`, `"…"`, `Tweet: «…»`: an optional short label, then a quoted single line.
_QUOTED = re.compile(
    r"^(?P<prefix>(?:[^\W\d_][^\n:：\"“«]{0,29}[:：][^\S\n]*)?(?P<open>[\"“«']))(?P<body>[^\n]+)"
    r"(?P<suffix>[\"”»'])$"
)
# `Review: …` on a single line whose body holds no other label.
_LABELLED = re.compile(r"^(?P<prefix>[^\W\d_][^\n:：\"“«]{0,29}[:：][^\S\n]+)(?P<body>[^\n]+)$")
_CLOSING = {'"': '"', "“": "”", "«": "»", "'": "'"}
_INNER_LABEL = re.compile(r"(?:^|\s)[^\W\d_]{1,30}[:：]\s")
_DEFAULT = PromptLayout()
# Between an input and its output: a label, quotes or an arrow, never a paragraph.
_MAX_BETWEEN = 40


def with_layout(task: TaskSpec) -> TaskSpec:
    """`task` with the layout of its prompt, its demonstrations' shared input wrapper taken out."""
    layout = find_layout(task.prompt, task.examples)
    prefix, suffix = input_wrapper(task.examples)
    examples = tuple(
        Example(example.input[len(prefix) : len(example.input) - len(suffix)], example.output)
        for example in task.examples
    )
    return replace(task, examples=examples, layout=replace(layout, input_prefix=prefix, input_suffix=suffix))


def input_wrapper(examples: tuple[Example, ...]) -> tuple[str, str]:
    """The (prefix, suffix) that every demonstration's input is wrapped in; ("", "") for none.

    A wrapper is a quoted line, optionally after a short label (`Review: "…"`), or a short label
    before a line that holds no other label (`Review: …`). It must be the same for every input.
    """
    if not examples:
        return "", ""
    wrappers = {_wrapper(example.input) for example in examples}
    return wrappers.pop() if len(wrappers) == 1 else ("", "")


def _wrapper(text: str) -> tuple[str, str]:
    quoted = _QUOTED.match(text)
    if quoted and _CLOSING[quoted["open"]] == quoted["suffix"] and quoted["body"].strip():
        return quoted["prefix"], quoted["suffix"]
    labelled = _LABELLED.match(text)
    if labelled and not _INNER_LABEL.search(labelled["body"]):
        return labelled["prefix"], ""
    return "", ""


def find_layout(prompt: str, examples: tuple[Example, ...]) -> PromptLayout:
    """How `prompt` presents its last demonstration, the demonstration's input replaced by a slot.

    The query runs from the start of the line where the last demonstration's input begins to
    where its output begins ("Input: {input}\\nOutput:", "{input} ->"); the separator is the
    blank space between the two last demonstrations. A prompt whose demonstrations are not
    slices of it (or that has none) gets the default "Input: {input}\\nOutput:" layout.
    """
    if not examples:
        return _DEFAULT
    last = examples[-1]
    located = _locate(prompt, last)
    if located is None:
        return _DEFAULT
    input_at, output_at = located
    line_start = prompt.rfind("\n", 0, input_at) + 1
    query = prompt[line_start:input_at] + INPUT_SLOT + prompt[input_at + len(last.input) : output_at]
    return PromptLayout(query=query.rstrip(), separator=_separator(prompt, examples, line_start))


def _locate(prompt: str, example: Example) -> tuple[int, int] | None:
    """Where `example`'s input and output begin in `prompt`: the last place where the output
    follows the input closely (a label or an arrow between them, no blank line)."""
    output_at = len(prompt)
    while (output_at := prompt.rfind(example.output, 0, output_at)) >= 0:
        input_at = prompt.rfind(example.input, 0, output_at)
        if input_at < 0:
            return None
        between = prompt[input_at + len(example.input) : output_at]
        if len(between) <= _MAX_BETWEEN and "\n\n" not in between:
            return input_at, output_at
    return None


def _separator(prompt: str, examples: tuple[Example, ...], line_start: int) -> str:
    if len(examples) < 2:
        return _DEFAULT.separator
    previous = examples[-2].output
    previous_at = prompt.rfind(previous, 0, line_start)
    between = prompt[previous_at + len(previous) : line_start] if previous_at >= 0 else ""
    return between if between.strip() == "" and "\n" in between else _DEFAULT.separator
