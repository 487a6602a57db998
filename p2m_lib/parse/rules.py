"""Deterministic prompt parser: the offline default and the LLM parser's fallback.

Layouts, tried in this order:

1. Labelled demonstrations. A label is up to three words and a colon at the start of a line
   ("Input:", "Q:", "Eingabe:", "输入：", "**Answer:**"), after an optional "1.", "-" or
   "Example 2:"; or one capitalised word and a colon inside a line ("Input: hi Output: salut"),
   kept when it is a known label or occurs inside lines twice. `input="..."` (the paper's layout)
   is a label too. The pair of labels (A, B) where B follows A most often forms the
   demonstrations: the input runs from A to B, the output from B to the next A, the next blank
   line or the next example heading. Ties go to known labels (vocabulary.py), then to the widest
   pair. One demonstration is enough when A is a known input label and B a known output label.
   Fields between A and B ("Context: ... Question: ... Answer: ...") stay in the input with
   their labels, unless A is a generic label such as "Input".
2. Arrow lines: "x -> y", "x => y", "x → y", optionally numbered or bulleted, one arrow a line.
   A line whose arrow splits a bracket pair or whose output ends with a colon introduces
   something and is no demonstration; nor is a lone arrow line at the top of the prompt.
3. Zero-shot: no demonstrations; the whole prompt is the instruction.

Everything outside the demonstrations is the instruction, less example headings, separator
lines and "Instruction:"/"Task:" headings. Unfinished demonstrations (the query slot at the end,
"Input: ...\\nOutput:") are dropped. A demonstration is a slice of the prompt, trimmed of
whitespace, of the quotes of `input="..."` and of a separator before an inline label; it is
never edited otherwise.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import pairwise

from p2m_lib.errors import P2MError
from p2m_lib.parse.vocabulary import (
    EXAMPLE_HEADINGS,
    GENERIC_INPUT_LABELS,
    INPUT_LABELS,
    INSTRUCTION_HEADINGS,
    KNOWN_LABELS,
    OUTPUT_LABELS,
    mentions,
)
from p2m_lib.types import Example, TaskSpec

Span = tuple[int, int]
Found = tuple[list[Example], list[Span]]


def _alternatives(words: Iterable[str]) -> str:
    """A regex alternation of `words`, longest first so "examples" wins over "example"."""
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


_SPACE = r"[^\S\n]"  # whitespace within a line, the no-break space before a French colon included
_WORD = r"[^\W\d_]+"  # letters of any script; no digits, so "Step 1:" and "10:30" are no labels
_LABEL = rf"{_WORD}(?:{_SPACE}+{_WORD}){{0,2}}"
_MAX_LABEL_CHARS = 30
_MAX_CONTENDERS = 20
_COLON = "[:：]"
_LIST_PREFIX = rf"(?:(?:[-*•>]|\d{{1,3}}[.)]){_SPACE}+|#+{_SPACE}*)?"
# "Example 2:", "Beispiel 1.", "示例1："; the lookahead keeps "Examples" from matching "Example" + "s".
_EXAMPLE_PREFIX = (
    rf"(?i:{_alternatives(EXAMPLE_HEADINGS)})(?![^\W\d_]){_SPACE}*\d{{0,3}}{_SPACE}*[:：.)-]?{_SPACE}*"
)

_LINE_LABEL = re.compile(
    rf"^{_SPACE}*{_LIST_PREFIX}(?:{_EXAMPLE_PREFIX})?\**(?P<label>{_LABEL})\**{_SPACE}*"
    rf"(?P<sep>{_COLON}|=(?={_SPACE}*[\"“]))\**{_SPACE}*",
    re.MULTILINE,
)
_INLINE_LABEL = re.compile(rf"(?<=[\s,;，；。|])\**(?P<label>{_WORD})\**{_SPACE}*{_COLON}\**{_SPACE}*")
_EXAMPLE_HEADING_LINE = re.compile(
    rf"^{_SPACE}*{_LIST_PREFIX}\**{_EXAMPLE_PREFIX}\**{_SPACE}*$", re.MULTILINE
)
_INSTRUCTION_HEADING = re.compile(
    rf"^{_SPACE}*(?:#+{_SPACE}*)?\**(?i:{_alternatives(INSTRUCTION_HEADINGS)})\**{_SPACE}*"
    rf"(?:{_COLON}\**{_SPACE}*|$)"
)
_SEPARATOR_LINE = re.compile(rf"^{_SPACE}*(?:[-=*_~#]{_SPACE}*){{3,}}$", re.MULTILINE)

_ARROW = r"(?<![-=<])(?:->|=>|→|⇒)(?!>)"
_ARROW_LINE = re.compile(
    rf"^{_SPACE}*{_LIST_PREFIX}(?:{_EXAMPLE_PREFIX})?(?P<input>\S.*?){_SPACE}*{_ARROW}"
    rf"{_SPACE}*(?P<output>\S.*?){_SPACE}*$",
    re.MULTILINE,
)
_BRACKETS = ("()", "[]", "{}", "“”")

_BLANK_LINE = re.compile(rf"\n{_SPACE}*\n")
_BLANK_RUN = re.compile(r"\n{3,}")
_QUOTES = ('""', "“”")
# Separators people put before an inline label: "Input: hi | Output: salut", "输入：你好，输出：…".
_INLINE_SEPARATORS = " \t|;,，；"


@dataclass(frozen=True)
class _Marker:
    """One label found in the prompt.

    Attributes:
        label: The label, casefolded, with single spaces.
        start: Where the marker begins: its list number or "Example 2:" prefix included.
        label_start: Where the label's first letter is.
        value_start: Where the text after the colon begins.
        at_line_start: False for a label inside a line.
        quoted: True for `label="..."`, whose value loses its quotes.
    """

    label: str
    start: int
    label_start: int
    value_start: int
    at_line_start: bool
    quoted: bool = False


def parse_rules(prompt: str) -> TaskSpec:
    """Split a prompt into its instruction and demonstrations without any model.

    Args:
        prompt: The user's prompt text.

    Returns:
        The TaskSpec: the instruction, the demonstrations as they appear in the prompt, the
        prompt itself; `retrieval_instruction` is left empty (the instruction serves).

    Raises:
        P2MError: The prompt is empty or holds demonstrations but no instruction.
    """
    if not prompt.strip():
        raise P2MError("the prompt is empty; write what the model should do, then a few examples")
    examples, spans = _demonstrations(prompt)
    instruction = _instruction(_without(prompt, spans))
    if not instruction:
        raise P2MError(_no_instruction_message(len(examples)))
    return TaskSpec(instruction=instruction, examples=tuple(examples), prompt=prompt)


def has_known_labels(prompt: str) -> bool:
    """Whether the prompt labels its demonstrations with a known input label and a known output
    label ("Input:"/"Output:", "Q:"/"A:", "Tweet:"/"Sentiment:"): the layout the rules split exactly.
    """
    pair = _label_pair(_markers(prompt))
    return pair is not None and mentions(pair[0], INPUT_LABELS) and mentions(pair[1], OUTPUT_LABELS)


def _no_instruction_message(demonstrations: int) -> str:
    advice = "add a line saying what the model should do"
    if not demonstrations:
        return f"the prompt has no instruction; {advice}"
    plural = "s" if demonstrations > 1 else ""
    return f"the prompt has {demonstrations} demonstration{plural} but no instruction; {advice}"


def _demonstrations(prompt: str) -> Found:
    """The demonstrations of the first layout that finds any, and the spans they cover."""
    for layout in _LAYOUTS:
        found = layout(prompt)
        if found is not None:
            return found
    return [], []


# ---- labelled demonstrations


def _labelled_demonstrations(text: str) -> Found | None:
    """Demonstrations written with a repeating pair of labels, or None without such a pair."""
    markers = _markers(text)
    pair = _label_pair(markers)
    if pair is None:
        return None
    input_label, output_label = pair
    # A value ends where the next demonstration, example heading or separator line begins.
    stops = sorted(
        [marker.start for marker in markers if marker.label == input_label]
        + [heading.start() for heading in _EXAMPLE_HEADING_LINE.finditer(text)]
        + [separator.start() for separator in _SEPARATOR_LINE.finditer(text)]
    )
    rank = {marker.start: index for index, marker in enumerate(markers)}
    paired = [marker for marker in markers if marker.label in pair]
    examples, spans = [], []
    for first, second in pairwise(paired):
        if (first.label, second.label) == pair:
            end = _value_end(text, second, stops)
            has_fields = rank[second.start] - rank[first.start] > 1  # other labels between the two
            examples.append(Example(_input_value(text, first, second, has_fields), _value(text, second, end)))
            spans.append((first.start, end))
    if paired[-1].label == input_label:  # an unfinished demonstration: the query slot at the end
        spans.append((paired[-1].start, _value_end(text, paired[-1], stops)))
    return [example for example in examples if example.input and example.output], spans


def _markers(text: str) -> list[_Marker]:
    """Every label in `text`: at line starts, and inside lines where it looks like a label."""
    markers: dict[int, _Marker] = {}
    covered: set[int] = set()
    for match in _LINE_LABEL.finditer(text):
        if len(match["label"]) <= _MAX_LABEL_CHARS:
            markers[match.start("label")] = _marker(match, match.start(), at_line_start=True)
            covered.update(range(match.start(), match.end()))
    inline = [
        match
        for match in _INLINE_LABEL.finditer(text)
        if match.start("label") not in covered and _capitalised_or_uncased(match["label"])
    ]
    counts = Counter(_normal(match["label"]) for match in inline)
    for match in inline:
        label = _normal(match["label"])
        if counts[label] >= 2 or mentions(label, KNOWN_LABELS):
            markers[match.start("label")] = _marker(match, match.start("label"), at_line_start=False)
    return sorted(markers.values(), key=lambda marker: marker.start)


def _marker(match: re.Match[str], start: int, at_line_start: bool) -> _Marker:
    return _Marker(
        label=_normal(match["label"]),
        start=start,
        label_start=match.start("label"),
        value_start=match.end(),
        at_line_start=at_line_start,
        quoted=match.groupdict().get("sep") == "=",
    )


def _normal(label: str) -> str:
    return " ".join(label.casefold().split())


def _capitalised_or_uncased(word: str) -> bool:
    """Whether `word` starts like a label inside a line: "Output", "输出", not "note"."""
    first = word[0]
    return first.isupper() or first.lower() == first.upper()


def _is_heading(label: str) -> bool:
    return label in INSTRUCTION_HEADINGS or label in EXAMPLE_HEADINGS


def _label_pair(markers: list[_Marker]) -> tuple[str, str] | None:
    """The (input, output) labels of the demonstrations, or None when no pair qualifies."""
    sequence = _contenders([marker.label for marker in markers if not _is_heading(marker.label)])
    order = {label: index for index, label in enumerate(dict.fromkeys(sequence))}
    ranked = []
    for (first, second), count in _follows(sequence).items():
        known = mentions(first, INPUT_LABELS) + mentions(second, OUTPUT_LABELS)
        if count >= 2 or (count == 1 and known == 2):
            ranked.append(((count, known, -order[first], order[second]), (first, second)))
    return max(ranked)[1] if ranked else None


def _contenders(sequence: list[str]) -> list[str]:
    """`sequence` cut down to the labels that can form the pair: known ones and the most frequent.

    Real prompts hold a handful of labels; the bound keeps a prompt of thousands of "word:"
    lines from costing a pass over the sequence per label.
    """
    frequent = {label for label, _ in Counter(sequence).most_common(_MAX_CONTENDERS)}
    return [label for label in sequence if label in frequent or mentions(label, KNOWN_LABELS)]


def _follows(sequence: list[str]) -> Counter[tuple[str, str]]:
    """How often `b` follows `a` before `a` recurs, for every pair of labels (a, b).

    That is how often "a b" occurs in the sequence cut down to a and b: a demonstration count.
    """
    occurrences: dict[str, list[int]] = {}
    for index, label in enumerate(sequence):
        occurrences.setdefault(label, []).append(index)
    counts: Counter[tuple[str, str]] = Counter()
    for first, indexes in occurrences.items():
        for begin, end in pairwise([*indexes, len(sequence)]):
            counts.update((first, second) for second in set(sequence[begin + 1 : end]))
    return counts


def _value_end(text: str, marker: _Marker, stops: list[int]) -> int:
    """Where the value after `marker` ends: the next stop or blank line, or the text's end.

    A label inside a line belongs to a one-line layout ("Input: hi Output: salut"), whose
    value also ends with the line.
    """
    start = marker.value_start
    index = bisect_right(stops, start)
    blank = _BLANK_LINE.search(text, start)
    ends = [stops[index] if index < len(stops) else len(text), blank.start() if blank else len(text)]
    if not marker.at_line_start:
        line_end = text.find("\n", start)
        ends.append(line_end if line_end >= 0 else len(text))
    return min(ends)


def _input_value(text: str, first: _Marker, second: _Marker, has_fields: bool) -> str:
    """The input between `first` and `second`, with the labels of its fields when it has several."""
    if has_fields and not mentions(first.label, GENERIC_INPUT_LABELS):
        value = text[first.label_start : second.start].strip()
    else:
        value = _unquoted(text[first.value_start : second.start].strip(), first.quoted)
    return value if second.at_line_start else value.rstrip(_INLINE_SEPARATORS)


def _value(text: str, marker: _Marker, end: int) -> str:
    return _unquoted(text[marker.value_start : end].strip(), marker.quoted)


def _unquoted(value: str, quoted: bool) -> str:
    if quoted and len(value) >= 2 and value[0] + value[-1] in _QUOTES:
        return value[1:-1]
    return value


# ---- arrow lines


def _arrow_demonstrations(text: str) -> Found | None:
    """Demonstrations written one per line as "x -> y", or None when there are none."""
    lines = [match for match in _ARROW_LINE.finditer(text) if _is_arrow_demonstration(match)]
    if len(lines) == 1 and not text[: lines[0].start()].strip():
        lines = []  # a lone arrow at the top ("Convert Celsius -> Fahrenheit") is the instruction
    if not lines:
        return None
    return [Example(line["input"], line["output"]) for line in lines], [line.span() for line in lines]


def _is_arrow_demonstration(line: re.Match[str]) -> bool:
    """Whether an arrow line is a demonstration rather than a sentence with an arrow in it."""
    whole, left, right = line[0], line["input"], line["output"]
    single_arrow = len(re.findall(_ARROW, whole)) == 1
    splits_brackets = any(left.count(opening) != left.count(closing) for opening, closing in _BRACKETS)
    return single_arrow and not splits_brackets and not right.endswith((":", "："))


_LAYOUTS: tuple[Callable[[str], Found | None], ...] = (_labelled_demonstrations, _arrow_demonstrations)


# ---- the instruction


def _without(text: str, spans: list[Span]) -> str:
    """`text` with the spans cut out, each replaced by a line break."""
    pieces, cursor = [], 0
    for start, end in sorted(spans):
        pieces.append(text[cursor:start])
        cursor = end
    pieces.append(text[cursor:])
    return "\n".join(pieces)


def _instruction(remaining: str) -> str:
    """The instruction: the text outside the demonstrations, less headings and separators."""
    lines = [
        _INSTRUCTION_HEADING.sub("", line, count=1).rstrip()
        for line in remaining.split("\n")
        if not (_EXAMPLE_HEADING_LINE.match(line) or _SEPARATOR_LINE.match(line))
    ]
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip()
