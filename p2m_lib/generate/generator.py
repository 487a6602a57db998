"""Generate a training set with the teacher: the paper's four strategies, resumable from disk.

Each round asks the teacher for a batch of new inputs (few-shot diversity, annealed
temperature), keeps the valid ones, then asks for several outputs per input and keeps the
self-consistent one. Every reply is appended to `raw.jsonl` and every accepted example to
`examples.jsonl` the moment it arrives, so a rerun picks up where an interrupted one stopped:
it reloads the examples, counts the requests already paid for, and finishes a round whose
inputs were generated but whose outputs were not.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2m_lib.config import GenerationConfig
from p2m_lib.generate import prompts
from p2m_lib.generate.strategies import annealed_temperature, sample_demonstrations, self_consistent_output
from p2m_lib.progress import progress_bar
from p2m_lib.types import Completion, Example, SamplingParams, TaskSpec, Usage

if TYPE_CHECKING:
    from p2m_lib.llm.base import Teacher

RAW_FILE = "raw.jsonl"
EXAMPLES_FILE = "examples.jsonl"


@dataclass(frozen=True)
class GenerationResult:
    """What generation left on disk, and what it cost.

    Attributes:
        examples: Every accepted example, those from earlier interrupted runs included.
        usage: Requests and tokens over all runs into the same folder.
        rejected: How many candidates each filter removed, by reason.
        resumed_examples: Examples that were already on disk when this run started.
    """

    examples: tuple[Example, ...]
    usage: Usage
    rejected: dict[str, int] = field(default_factory=dict)
    resumed_examples: int = 0


@dataclass
class _State:
    """What is on disk: accepted examples, usage so far, and inputs still waiting for outputs."""

    examples: list[Example] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    rejected: Counter[str] = field(default_factory=Counter)
    rounds: int = 0
    pending_inputs: list[str] = field(default_factory=list)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file; a last line cut off by a kill is ignored."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _append_jsonl(path: Path, row: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        handle.flush()


def _load_state(folder: Path) -> _State:
    state = _State(examples=[Example(r["input"], r["output"]) for r in _read_jsonl(folder / EXAMPLES_FILE)])
    rounds_with_outputs = set()
    last_inputs: dict[int, list[str]] = {}
    for record in _read_jsonl(folder / RAW_FILE):
        usage = record.get("usage", {})
        state.usage = state.usage.add(
            Completion((), usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
        )
        state.rounds = max(state.rounds, record["round"] + 1)
        if record["step"] == "input":
            last_inputs.setdefault(record["round"], []).extend(record["accepted"])
        else:
            rounds_with_outputs.add(record["round"])
        for reason in record.get("rejected", []):
            state.rejected[reason] += 1
    # Only the last round can have been cut between its input and output requests; its
    # outputs are then recorded under the same round, so a second interruption resumes right.
    last_round = state.rounds - 1
    if last_inputs.get(last_round) and last_round not in rounds_with_outputs:
        state.pending_inputs = last_inputs[last_round]
        state.rounds = last_round
    return state


class DatasetGenerator:
    """Generates `config.num_examples` examples for a task with a teacher.

    Args:
        teacher: Any `Teacher` (the embedded local model or an OpenAI-compatible endpoint).
        config: Generation settings (see `GenerationConfig`).
        seed: Seed for the demonstration sampling; rounds are seeded by their index so a
            resumed run samples what an uninterrupted one would have.
    """

    def __init__(self, teacher: Teacher, config: GenerationConfig, seed: int = 0) -> None:
        self.teacher = teacher
        self.config = config
        self.seed = seed

    def generate(self, task: TaskSpec, folder: Path) -> GenerationResult:
        """Generate into `folder` (created if needed), resuming what is already there."""
        folder.mkdir(parents=True, exist_ok=True)
        state = _load_state(folder)
        resumed = len(state.examples)
        wanted = self.config.num_examples
        with progress_bar("generate", total=wanted) as bar:
            bar.update(0, completed=min(resumed, wanted))
            while len(state.examples) < wanted and self._requests_left(state) > 0:
                inputs = state.pending_inputs or self._new_inputs(task, state, folder)
                state.pending_inputs = []
                # Ask for no more outputs than the set still needs, nor more than the budget allows.
                needed = min(wanted - len(state.examples), self._requests_left(state))
                accepted = self._outputs(task, state, folder, inputs[:needed])
                bar.update(0, advance=accepted, status=self._status(state))
                state.rounds += 1
        return GenerationResult(tuple(state.examples), state.usage, dict(state.rejected), resumed)

    def _requests_left(self, state: _State) -> int:
        return self.config.max_requests - state.usage.requests

    def _status(self, state: _State) -> str:
        return f"{state.usage.requests}/{self.config.max_requests} requests"

    def _demonstrations(self, task: TaskSpec, state: _State, count: int, step: str) -> list[list[Example]]:
        """Demonstrations for `count` prompts, each sampled anew from a round- and step-seeded stream."""
        rng = random.Random(f"{self.seed}/{state.rounds}/{step}")
        k = self.config.demonstrations_per_request
        return [sample_demonstrations(task.examples, state.examples, k, rng) for _ in range(count)]

    def _complete(self, prompt_list: list[str], params: SamplingParams, state: _State) -> list[Completion]:
        completions = self.teacher.complete(prompt_list, params)
        for completion in completions:
            state.usage = state.usage.add(completion)
        return completions

    def _new_inputs(self, task: TaskSpec, state: _State, folder: Path) -> list[str]:
        """One batch of input requests; returns the inputs that pass the filters."""
        batch = min(self.config.batch_size, self._requests_left(state))
        temperature = annealed_temperature(
            len(state.examples),
            self.config.num_examples,
            self.config.initial_temperature,
            self.config.max_temperature,
        )
        chat = self.teacher.capable
        prompt_list = [
            prompts.input_prompt(task.instruction, demonstrations, chat)
            for demonstrations in self._demonstrations(task, state, batch, "input")
        ]
        params = SamplingParams(1, temperature, self.config.max_new_tokens, prompts.INPUT_STOP)
        seen = {e.input for e in state.examples} | {e.input for e in task.examples}
        accepted: list[str] = []
        for prompt, completion in zip(prompt_list, self._complete(prompt_list, params, state), strict=True):
            candidates = [prompts.extract_input(text) for text in completion.texts]
            rejected = [self._input_rejection(c, seen, task) for c in candidates]
            for candidate, reason in zip(candidates, rejected, strict=True):
                if reason is None:
                    accepted.append(candidate)
                    seen.add(candidate)
                else:
                    state.rejected[reason] += 1
            self._record(
                folder,
                state,
                "input",
                prompt,
                temperature,
                completion,
                accepted=[c for c, r in zip(candidates, rejected, strict=True) if r is None],
                rejected=[r for r in rejected if r],
            )
        return accepted

    @staticmethod
    def _input_rejection(candidate: str, seen: set[str], task: TaskSpec) -> str | None:
        if not candidate:
            return "empty input"
        if candidate in {e.input for e in task.examples}:
            return "copy of a demonstration"
        if candidate in seen:
            return "duplicate input"
        return None

    def _outputs(self, task: TaskSpec, state: _State, folder: Path, inputs: list[str]) -> int:
        """Self-consistency: several outputs per input, the most frequent one kept."""
        if not inputs:
            return 0
        chat = self.teacher.capable
        prompt_list = [
            prompts.output_prompt(task.instruction, demonstrations, text, chat)
            for text, demonstrations in zip(
                inputs, self._demonstrations(task, state, len(inputs), "output"), strict=True
            )
        ]
        # Outputs are sampled at the initial temperature: annealing is for the diversity of
        # inputs, while majority voting needs samples that agree when the teacher knows the answer.
        params = SamplingParams(
            self.config.samples_per_input,
            self.config.initial_temperature,
            self.config.max_new_tokens,
            prompts.OUTPUT_STOP,
        )
        accepted = 0
        for text, prompt, completion in zip(
            inputs, prompt_list, self._complete(prompt_list, params, state), strict=True
        ):
            output = self_consistent_output([prompts.extract_output(t) for t in completion.texts])
            reason = "empty output" if output is None else None
            self._record(
                folder,
                state,
                "output",
                prompt,
                params.temperature,
                completion,
                input=text,
                output=output,
                rejected=[reason] if reason else [],
            )
            if output is None:
                state.rejected["empty output"] += 1
                continue
            example = Example(text, output)
            state.examples.append(example)
            _append_jsonl(folder / EXAMPLES_FILE, example.to_dict())
            accepted += 1
        return accepted

    def _record(
        self,
        folder: Path,
        state: _State,
        step: str,
        prompt: str,
        temperature: float,
        completion: Completion,
        **extra: Any,
    ) -> None:
        row = {
            "round": state.rounds,
            "step": step,
            "temperature": round(temperature, 4),
            "prompt": prompt,
            "texts": list(completion.texts),
            "usage": {
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
            },
        }
        _append_jsonl(folder / RAW_FILE, row | extra)
