"""LLM as judge: the teacher checks every generated pair before the student learns from it.

Self-consistency keeps the answer the teacher gives most often, which is not always a right one.
The judge asks the teacher a second, easier question about each kept pair: is this output
correct for this input? Pairs judged wrong are dropped; a reply that is neither yes nor no keeps
the pair (and is counted as unclear).

The request is a pattern to continue, as every request to a local teacher is: the user's
demonstrations marked "yes", and the same inputs with another demonstration's output marked "no",
then the pair to judge. Verdicts are appended to `judged.jsonl` as they arrive, so a rerun judges
only what is not on disk.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2m_lib.generate.journal import open_for_append, read_jsonl, write_line
from p2m_lib.generate.prompts import CHAT_PREAMBLE
from p2m_lib.llm.base import batch_size_for, is_chat
from p2m_lib.progress import progress_bar
from p2m_lib.types import Example, SamplingParams, TaskSpec

if TYPE_CHECKING:
    from p2m_lib.llm.base import Teacher

JUDGED_FILE = "judged.jsonl"
WRONG, RIGHT, UNCLEAR = "no", "yes", "unclear"
JUDGE_QUESTION = 'Say "yes" if the output is correct for the input, "no" if it is not.'


@dataclass(frozen=True)
class JudgeResult:
    """What the judge decided over a generated set.

    Attributes:
        kept: The pairs judged right or unclear, in their order.
        judged: How many pairs have a verdict (those from earlier runs included).
        verdicts: How many of each verdict: "yes", "no", "unclear".
    """

    kept: tuple[Example, ...]
    judged: int
    verdicts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "judged": self.judged,
            "kept": len(self.kept),
            "dropped": {"judged wrong": self.verdicts.get(WRONG, 0)},
            "unclear": self.verdicts.get(UNCLEAR, 0),
            "agreement": round(100 * self.verdicts.get(RIGHT, 0) / self.judged, 1) if self.judged else None,
        }


def judge_prompt(task: TaskSpec, example: Example, chat: bool = False) -> str:
    """The pattern whose continuation is "yes" or "no" for `example`."""
    blocks = []
    demonstrations = task.examples
    for index, demonstration in enumerate(demonstrations):
        blocks.append(_block(demonstration.input, demonstration.output, RIGHT))
        other = demonstrations[(index + 1) % len(demonstrations)].output
        if other != demonstration.output:
            blocks.append(_block(demonstration.input, other, WRONG))
    blocks.append(_block(example.input, example.output, ""))
    body = f"{task.instruction.strip()}\n{JUDGE_QUESTION}\n\n" + "\n\n".join(blocks)
    return (CHAT_PREAMBLE if chat else "") + body.rstrip()


def _block(text: str, output: str, verdict: str) -> str:
    return f"Input: {text}\nOutput: {output}\nCorrect: {verdict}"


def verdict(reply: str) -> str:
    """"yes", "no" or "unclear": the reply's first word."""
    words = reply.strip().split(maxsplit=1)
    first = words[0].strip(".,:;!\"'*").lower() if words else ""
    return first if first in (RIGHT, WRONG) else UNCLEAR


def judge_examples(
    teacher: Teacher, task: TaskSpec, examples: list[Example], folder: Path, batch_size: int | None = None
) -> JudgeResult:
    """Judge every example not yet judged in `folder`, appending verdicts to judged.jsonl.

    Args:
        batch_size: Pairs judged together; default: what the teacher runs best at once
            (a local teacher's `wave_sequences`), else 8.
    """
    path = folder / JUDGED_FILE
    known = {(row["input"], row["output"]): row["verdict"] for row in read_jsonl(path)}
    waiting = [example for example in examples if (example.input, example.output) not in known]
    batch_size = batch_size or batch_size_for(teacher)
    params = SamplingParams(n=1, temperature=0.0, max_tokens=3, stop=("\n",))
    chat = is_chat(teacher)
    with progress_bar("judge", total=len(examples)) as bar, open_for_append(path) as out:
        bar.update(0, completed=len(examples) - len(waiting))
        for start in range(0, len(waiting), batch_size):
            batch = waiting[start : start + batch_size]
            completions = teacher.complete([judge_prompt(task, e, chat) for e in batch], params)
            for example, completion in zip(batch, completions, strict=True):
                decision = verdict(completion.texts[0] if completion.texts else "")
                known[(example.input, example.output)] = decision
                write_line(out, example.to_dict() | {"verdict": decision})
            bar.update(0, advance=len(batch))
    decisions = [known[(e.input, e.output)] for e in examples]
    kept = tuple(e for e, decision in zip(examples, decisions, strict=True) if decision != WRONG)
    return JudgeResult(kept=kept, judged=len(examples), verdicts=dict(Counter(decisions)))


def judged_wrong(folder: Path) -> set[tuple[str, str]]:
    """The (input, output) pairs the judge dropped in `folder`; empty when no judge ran."""
    rows = read_jsonl(folder / JUDGED_FILE)
    return {(row["input"], row["output"]) for row in rows if row["verdict"] == WRONG}
