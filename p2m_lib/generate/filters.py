"""Quality filters for generated examples: each names the reason it removes a candidate for.

Inputs are checked for emptiness, copies of the demonstrations, exact and near duplicates
(MinHash over word shingles, confirmed by exact Jaccard similarity), answers leaked into the
input (a class name in its input is none), and replies that are not an input at all (chatter,
the instruction restated, a label, code or JSON, a few words over and over). Outputs are checked
sample by sample before the self-consistency vote, and the chosen output against its input.

The format checks learn from the demonstrations what is normal for the task: a task whose
inputs are JSON, or whose outputs appear inside their inputs (extraction), keeps such candidates.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from p2m_lib.generate.strategies import label_key, self_consistent_output
from p2m_lib.llm.base import repeats_a_unit
from p2m_lib.types import TaskSpec

EMPTY_INPUT = "empty input"
DEMONSTRATION_COPY = "copy of a demonstration"
DUPLICATE_INPUT = "duplicate input"
NEAR_DUPLICATE_INPUT = "near-duplicate input"
ANSWER_LEAK = "input leaks its answer"
CHATTER = "chatter instead of the requested item"
INSTRUCTION_ECHO = "instruction restated instead of an input"
LABEL_AS_INPUT = "a demonstration's output instead of an input"
MARKUP = "code or JSON instead of the requested text"
REPETITION = "the same words over and over"
EMPTY_OUTPUT = "empty output"
OUTSIDE_LABELS = "not one of the task's labels"

_WORD = re.compile(r"\w+")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_CHATTER = re.compile(
    r"^(sure|certainly|of course|okay|absolutely|great question|sorry|as an ai|here (is|are)|here's"
    r"|i('m| am) (sorry|an ai|not able)|i can(not|'t)"
    r"|the (new |next )?(input|output|example|answer) (is|would be))\b",
    re.IGNORECASE,
)
_MARKUP = re.compile(r"^\s*(```|[{\[]|<[a-z!/])|```", re.IGNORECASE)
_ANSWER_MARKER = re.compile(r"\b(answer|output|label|solution)\s*:", re.IGNORECASE)
_EDGE_PUNCTUATION = " \t\n\"'`.,;:!?"
# Words said over and over back to back, as a teacher stuck in a loop writes them (the 1.5B teacher
# wrote German tweets of "@user" 40 times, or of three hashtags again and again): a unit of up to
# six words, at least four times and eight words in all ("ha ha ha ha" and "no no no no" pass).
_LOOP_UNIT_WORDS = 6
_LOOP_COPIES = 4
_LOOP_WORDS = 8
# The smallest prime above 2**32: (a * x + b) mod p, with a and b below 2**31 and x a 32-bit hash,
# is a universal hash family whose arithmetic fits in 64 bits.
_PRIME = 4_294_967_311


def normalize(text: str) -> str:
    """The key of exact duplicates: casefolded, spaces collapsed, edge quotes and punctuation dropped."""
    return " ".join(text.casefold().split()).strip(_EDGE_PUNCTUATION)


def repeats_itself(text: str) -> bool:
    """Whether `text` holds a run of the same few words over and over (case and signs aside)."""
    return repeats_a_unit(_WORD.findall(text.casefold()), _LOOP_UNIT_WORDS, _LOOP_COPIES, _LOOP_WORDS)


def shingles(text: str) -> frozenset[str]:
    """Word unigrams (punctuation marks count as words) and bigrams of the words around punctuation.

    Words rather than character n-grams: in a short input one changed word or sign (another
    number, another country, + for -) makes another example, while a small edit of a long input,
    or a comma more, does not.
    """
    normalized = normalize(text)
    words = _WORD.findall(normalized)
    return frozenset(_TOKEN.findall(normalized)) | frozenset(
        " ".join(pair) for pair in zip(words, words[1:], strict=False)
    )


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


class NearDuplicateIndex:
    """Texts indexed by MinHash with banded locality-sensitive hashing, each with a label.

    A query is compared only with the texts that share a band of its signature, and each of those
    is confirmed by the exact Jaccard similarity of the shingle sets, so a reported match is never
    a false positive. A pair at similarity s is missed with probability (1 - s**rows)**bands: at
    0.8 with 16 bands of 4 rows, 2 in 10,000.
    """

    def __init__(self, threshold: float = 0.8, bands: int = 16, rows: int = 4, seed: int = 1) -> None:
        self.threshold = threshold
        self.bands, self.rows = bands, rows
        rng = np.random.default_rng(seed)
        self._a = rng.integers(1, 1 << 31, size=(bands * rows, 1), dtype=np.uint64)
        self._b = rng.integers(0, 1 << 31, size=(bands * rows, 1), dtype=np.uint64)
        self._exact: dict[str, str] = {}
        self._shingles: list[frozenset[str]] = []
        self._labels: list[str] = []
        self._buckets: dict[tuple[int, bytes], list[int]] = {}

    def __len__(self) -> int:
        return len(self._labels)

    def add(self, text: str, label: str) -> None:
        """Index `text`; a later query that matches it reports `label`."""
        self._exact.setdefault(normalize(text), label)
        items = shingles(text)
        if not items:
            return
        index = len(self._labels)
        self._shingles.append(items)
        self._labels.append(label)
        for key in self._band_keys(items):
            self._buckets.setdefault(key, []).append(index)

    def find(self, text: str) -> tuple[str, bool] | None:
        """The label of an indexed text that `text` duplicates, and whether exactly; None if none."""
        exact = self._exact.get(normalize(text))
        if exact is not None:
            return exact, True
        items = shingles(text)
        if not items:
            return None
        candidates = {i for key in self._band_keys(items) for i in self._buckets.get(key, ())}
        similar = [(jaccard(items, self._shingles[i]), i) for i in candidates]
        best = max(similar, default=(0.0, -1))
        return (self._labels[best[1]], False) if best[0] >= self.threshold else None

    def _band_keys(self, items: Iterable[str]) -> list[tuple[int, bytes]]:
        hashes = np.fromiter((zlib.crc32(s.encode("utf-8")) for s in items), dtype=np.uint64)
        signature = ((self._a * hashes + self._b) % np.uint64(_PRIME)).min(axis=1)
        bands = signature.reshape(self.bands, self.rows)
        return [(band, bands[band].tobytes()) for band in range(self.bands)]


class _DemonstrationStyle:
    """What the demonstrations of one side (inputs or outputs) show is normal for the task."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.chatty = any(_CHATTER.search(t.strip()) for t in texts)
        self.markup = any(_MARKUP.search(t) for t in texts)
        self.markers = {m.group(1).casefold() for t in texts for m in _ANSWER_MARKER.finditer(t)}
        self.loops = any(repeats_itself(t) for t in texts)

    def format_rejection(self, text: str) -> str | None:
        """Why `text` is not an item of the requested kind, or None."""
        if _CHATTER.search(text) and not self.chatty:
            return CHATTER
        if _MARKUP.search(text) and not self.markup:
            return MARKUP
        if not self.loops and repeats_itself(text):
            return REPETITION
        return None


class InputFilter:
    """Decides which generated inputs to keep, and remembers the kept ones to catch duplicates.

    Args:
        task: The task; its demonstrations are what a copy is a copy of.
        near_duplicate_threshold: Jaccard similarity of word shingles from which two inputs are
            near duplicates.
    """

    def __init__(self, task: TaskSpec, near_duplicate_threshold: float = 0.8) -> None:
        self._style = _DemonstrationStyle([e.input for e in task.examples])
        self._instruction = shingles(task.instruction)
        self._threshold = near_duplicate_threshold
        self._labels = {normalize(e.output) for e in task.examples} - {
            normalize(e.input) for e in task.examples
        }
        self._index = NearDuplicateIndex(near_duplicate_threshold)
        for example in task.examples:
            self._index.add(example.input, DEMONSTRATION_COPY)

    def rejection(self, candidate: str) -> str | None:
        """Why `candidate` must not be kept, or None when it may."""
        if not candidate:
            return EMPTY_INPUT
        format_problem = self._style.format_rejection(candidate)
        if format_problem:
            return format_problem
        marker = _ANSWER_MARKER.search(candidate)
        if marker and marker.group(1).casefold() not in self._style.markers:
            return ANSWER_LEAK
        if normalize(candidate) in self._labels:
            return LABEL_AS_INPUT
        if jaccard(shingles(candidate), self._instruction) >= self._threshold:
            return INSTRUCTION_ECHO
        return self._duplicate_rejection(candidate)

    def _duplicate_rejection(self, candidate: str) -> str | None:
        match = self._index.find(candidate)
        if match is None:
            return None
        label, exact = match
        if label == DEMONSTRATION_COPY:
            return DEMONSTRATION_COPY
        return DUPLICATE_INPUT if exact else NEAR_DUPLICATE_INPUT

    def keep(self, candidate: str) -> None:
        """Remember a kept input, so that later copies of it are duplicates."""
        self._index.add(candidate, DUPLICATE_INPUT)


class OutputFilter:
    """Chooses the output of a generated input from its samples, or says why there is none."""

    def __init__(self, task: TaskSpec) -> None:
        self._style = _DemonstrationStyle([e.output for e in task.examples])
        # Extraction tasks copy their answer out of the input; there an answer in the input is no leak.
        self._answers_in_inputs = any(_contains_phrase(e.input, e.output) for e in task.examples)
        # Nor is a class name: "I can't log into my account" is an account ticket. Rejecting such
        # inputs starved the classes whose name users write (docs/BENCHMARKS.md, Quality).
        self._demonstration_labels = {label_key(e.output) for e in task.examples}

    def choose(
        self, new_input: str, samples: Sequence[str], labels: Sequence[str] = ()
    ) -> tuple[str | None, str | None]:
        """Self-consistency over the samples that pass the format checks.

        Args:
            labels: A classification task's labels (`closed_label_set`): samples that are none
                of them ("delivery, technical", a sentence) are not counted.

        Returns:
            (output, None) for a kept output, or (None, reason) when no sample is usable.
        """
        reasons = [self._sample_rejection(s, labels) for s in samples]
        output = self_consistent_output([s for s, r in zip(samples, reasons, strict=True) if r is None])
        if output is None:
            # Every sample failed a check: the most common failure speaks for the input.
            return None, Counter(r for r in reasons if r).most_common(1)[0][0] if samples else EMPTY_OUTPUT
        if (
            not self._answers_in_inputs
            and len(normalize(output)) >= 3
            and label_key(output) not in self._demonstration_labels.union(labels)
            and _contains_phrase(new_input, output)
        ):
            return None, ANSWER_LEAK
        return output, None

    def unanimous(self, samples: Sequence[str], labels: Sequence[str] = ()) -> bool:
        """Whether every sample passes the format checks and all say the same (spaces aside)."""
        return all(self._sample_rejection(s, labels) is None for s in samples) and len(
            {s.strip() for s in samples}
        ) == 1

    def _sample_rejection(self, sample: str, labels: Sequence[str]) -> str | None:
        if not sample.strip():
            return EMPTY_OUTPUT
        if labels and label_key(sample) not in labels:
            return OUTSIDE_LABELS
        return self._style.format_rejection(sample)


def _contains_phrase(text: str, phrase: str) -> bool:
    """Whether `phrase` occurs in `text` as whole words, case and punctuation aside."""
    words, target = _TOKEN.findall(normalize(text)), _TOKEN.findall(normalize(phrase))
    size = len(target)
    return bool(target) and any(words[i : i + size] == target for i in range(len(words) - size + 1))
