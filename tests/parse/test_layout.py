"""The prompt's layout: inputs put back into the user's own layout, and wrappers taken out."""

from __future__ import annotations

import pytest

from p2m_lib.evaluate.baseline import baseline_prompt, baseline_stops
from p2m_lib.parse import parse_prompt
from p2m_lib.parse.layout import input_wrapper
from p2m_lib.types import Example, PromptLayout, TaskSpec

SENTIMENT = (
    "Classify the sentiment of the review as positive or negative.\n\n"
    'Review: "The battery lasts all week, love it" -> positive\n'
    'Review: "Broke after two days" -> negative\n'
)
DATES = (
    "Rewrite the date in ISO 8601 format.\n\n"
    "Input: March 7, 1994\nOutput: 1994-03-07\n\nInput: 12/25/1987\nOutput: 1987-12-25\n"
)


def test_a_shared_quoted_wrapper_is_taken_out_of_the_demonstrations_and_kept_in_the_layout():
    task = parse_prompt(SENTIMENT)

    assert task.examples == (
        Example("The battery lasts all week, love it", "positive"),
        Example("Broke after two days", "negative"),
    )
    assert task.layout == PromptLayout(
        query="{input} ->", separator="\n", input_prefix='Review: "', input_suffix='"'
    )
    assert task.layout.present("Too loud.") == 'Review: "Too loud." ->'


def test_the_baseline_asks_in_the_users_own_layout():
    task = parse_prompt(SENTIMENT)

    assert baseline_prompt(task, "Too loud.") == SENTIMENT.rstrip() + '\nReview: "Too loud." ->'
    # One demonstration a line: the line's end, or the next review, ends the answer.
    assert baseline_stops(task) == ("\nInput:", "\n\n", '\nReview: "', "\n")


def test_labelled_demonstrations_keep_their_labels_and_blank_lines():
    task = parse_prompt(DATES)

    assert task.layout == PromptLayout()
    assert baseline_prompt(task, "4 July 2001") == DATES.rstrip() + "\n\nInput: 4 July 2001\nOutput:"
    assert baseline_stops(task) == ("\nInput:", "\n\n")


@pytest.mark.parametrize(
    ("prompt", "query", "separator", "examples"),
    [
        ("Answer.\nQ: What is 2+2?\nA: 4\n\nQ: Capital of France?\nA: Paris", "Q: {input}\nA:", "\n\n", 2),
        ("Translate to French.\nhello -> bonjour\ncat -> chat\n", "{input} ->", "\n", 2),
        ("Say hi in French.", "Input: {input}\nOutput:", "\n\n", 0),
    ],
)
def test_layouts_of_common_prompts(prompt: str, query: str, separator: str, examples: int):
    task = parse_prompt(prompt)

    assert (task.layout.query, task.layout.separator, len(task.examples)) == (query, separator, examples)
    assert (task.layout.input_prefix, task.layout.input_suffix) == ("", "")


def test_a_wrapper_must_be_shared_by_every_demonstration():
    task = parse_prompt('Classify.\n\nReview: "Great" -> positive\nBad value -> negative\n')

    assert [e.input for e in task.examples] == ['Review: "Great"', "Bad value"]
    assert (task.layout.input_prefix, task.layout.input_suffix) == ("", "")


def test_a_label_whose_line_holds_other_labels_is_no_wrapper():
    fields = (
        Example("Text: Context: sky. Question: colour?", "blue"),
        Example("Text: Context: sea. Q: hue?", "green"),
    )
    labelled = (Example("Tweet: so good", "positive"), Example("Tweet: meh", "negative"))

    assert input_wrapper(fields) == ("", "")
    assert input_wrapper(labelled) == ("Tweet: ", "")
    assert input_wrapper((Example("“Nice”", "positive"),)) == ("“", "”")
    assert input_wrapper((Example('"Nice”', "positive"),)) == ("", "")


def test_the_layout_travels_in_task_json():
    task = parse_prompt(SENTIMENT)

    restored = TaskSpec.from_dict(task.to_dict())
    assert (restored.layout, restored.examples) == (task.layout, task.examples)
    # task.json written before layouts existed still reads, with the default layout.
    legacy = {k: v for k, v in task.to_dict().items() if k != "layout"}
    assert TaskSpec.from_dict(legacy).layout == PromptLayout()
