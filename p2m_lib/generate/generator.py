"""Generate a training set with the teacher: the paper's four strategies, resumable from disk.

Requests go out in waves. A wave asks for outputs when generated inputs are waiting for them
(several samples each, the self-consistent one kept; an input whose first samples disagree waits
again for the rest), else for new inputs (few-shot diversity,
annealed temperature). A teacher with only `complete` gets one wave at a time, a full batch (one
batch of sequences decoded together by the local model); a teacher that can `stream` (the OpenAI-compatible
one) gets a wave whenever its engine has free slots, so the endpoint stays busy while replies
come back.

Every reply is appended to `raw.jsonl` and every accepted example to `examples.jsonl` the
moment it arrives, so a rerun picks up where an interrupted one stopped: it reloads the examples,
counts the requests and money already spent, and asks for the outputs of inputs that were
generated but not yet answered, without repeating any request whose reply is on disk.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2m_lib.config import GenerationConfig
from p2m_lib.generate import prompts
from p2m_lib.generate.filters import InputFilter, OutputFilter
from p2m_lib.generate.journal import Journal
from p2m_lib.generate.state import GenerationState, load_state
from p2m_lib.generate.strategies import (
    annealed_temperature,
    closed_label_set,
    first_samples,
    sample_demonstrations,
)
from p2m_lib.llm.base import is_chat
from p2m_lib.llm.cost import CHARS_PER_TOKEN, Budget, Estimate, PriceTable, estimate_tokens, price_of
from p2m_lib.llm.engine import Job, StreamingTeacher
from p2m_lib.progress import progress_bar
from p2m_lib.types import Completion, Example, SamplingParams, TaskSpec, Usage

if TYPE_CHECKING:
    from rich.progress import Progress

    from p2m_lib.llm.base import Teacher

log = logging.getLogger(__name__)

# Until a folder has enough replies of a kind (`GenerationState.acceptance`), estimates assume
# these rates of passing the filters.
_ASSUMED_ACCEPTANCE = (0.8, 0.95)
_STATUS_EVERY_S = 0.25
MIN_REPLY_TOKENS = 16
# Generated examples shown to the teacher for a task whose prompt has no demonstrations, when the
# configuration asks for none beside the user's (the paper's few-shot diversity shows three).
ZERO_SHOT_DEMONSTRATIONS = 3


@dataclass(frozen=True)
class GenerationResult:
    """What generation left on disk, and what it cost.

    Attributes:
        examples: Every accepted example, those from earlier interrupted runs included.
        usage: Requests and tokens over all runs into the same folder.
        rejected: How many candidates each filter removed, by reason.
        resumed_examples: Examples that were already on disk when this run started.
        cost: USD over all runs into the same folder; None when the teacher's price is unknown.
        stopped_by: "done" when every wanted example is there, else the limit that stopped the
            run: "max_requests" or "max_cost".
        failed_requests: Requests of this run given up after their retries (nothing paid).
        faults: Faults the request engine met and overcame in this run, by kind (streaming only).
    """

    examples: tuple[Example, ...]
    usage: Usage
    rejected: dict[str, int] = field(default_factory=dict)
    resumed_examples: int = 0
    cost: float | None = None
    stopped_by: str = "done"
    failed_requests: int = 0
    faults: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Ask:
    """What a job asks for, carried as its tag: a new input, or the output for `input`."""

    step: str
    round: int
    reserved: float
    input: str = ""


class DatasetGenerator:
    """Generates `config.num_examples` examples for a task with a teacher.

    Args:
        teacher: Any `Teacher`; one that can `stream` (the OpenAI-compatible one) gets many
            requests in flight.
        config: Generation settings (see `GenerationConfig`); `max_requests` is a hard bound.
        seed: Seed for the demonstration sampling; waves are seeded by their index so a
            resumed run samples what an uninterrupted one would have.
        max_cost: Hard bound in USD on what all runs into the folder spend; None for none.
        prices: The price table; None for the packaged one overlaid by P2M_PRICES.
        near_duplicate_threshold: Word-shingle Jaccard similarity from which a new input is a
            near duplicate of a kept one.
    """

    def __init__(
        self,
        teacher: Teacher,
        config: GenerationConfig,
        seed: int = 0,
        max_cost: float | None = None,
        prices: PriceTable | None = None,
        near_duplicate_threshold: float = 0.8,
    ) -> None:
        self.teacher = teacher
        self.config = config
        self.seed = seed
        self.max_cost = max_cost
        self.prices = prices
        self.near_duplicate_threshold = near_duplicate_threshold

    def generate(self, task: TaskSpec, folder: Path) -> GenerationResult:
        """Generate into `folder` (created if needed), resuming what is already there.

        Raises:
            P2MError: `max_cost` is set for a teacher of unknown price, or the teacher kept failing.
        """
        folder.mkdir(parents=True, exist_ok=True)
        price = price_of(self.teacher, self.prices)
        state = load_state(folder, price)
        budget = Budget(price, self.config.max_requests, self.max_cost, state.usage.requests, state.cost)
        resumed = len(state.examples)
        journal = Journal(folder)
        try:
            for example in state.unrecorded:
                journal.example(example)
            with progress_bar("generate", total=self.config.num_examples) as bar:
                bar.update(0, completed=min(resumed, self.config.num_examples))
                run = _Run(self, task, state, budget, journal, bar)
                faults = run.run()
                run.show_status()
        finally:
            journal.close()
        done = len(state.examples) >= self.config.num_examples
        return GenerationResult(
            examples=tuple(state.examples),
            usage=state.usage,
            rejected=dict(state.rejected),
            resumed_examples=resumed,
            cost=budget.cost if price is not None else None,
            # A run ends short of its examples only when a limit refused a request.
            stopped_by="done" if done else str(budget.stopped_by),
            failed_requests=run.failed,
            faults=faults,
        )

    def estimate(self, task: TaskSpec, folder: Path) -> Estimate:
        """What generating into `folder` is expected to cost, from what is on disk; sends nothing."""
        config = self.config
        price = price_of(self.teacher, self.prices)
        state = load_state(folder, price)
        acceptance = (
            state.acceptance("input", _ASSUMED_ACCEPTANCE[0] * config.inputs_per_request),
            state.acceptance("output", _ASSUMED_ACCEPTANCE[1]),
        )
        left = max(config.num_examples - len(state.examples), 0)
        outputs = math.ceil(left / acceptance[1])
        inputs = math.ceil(max(outputs - len(state.pending_inputs), 0) / acceptance[0])
        requests_left = max(config.max_requests - state.usage.requests, 0)
        # The request bound stops a run early: scale both kinds down alike.
        scale = min(1.0, requests_left / (inputs + outputs)) if inputs + outputs else 1.0
        inputs, outputs = math.floor(inputs * scale), math.floor(outputs * scale)
        input_prompt, output_prompt, typical = _typical_prompts(task, config, is_chat(self.teacher))
        prompt_tokens = inputs * estimate_tokens(input_prompt) + outputs * estimate_tokens(output_prompt)
        input_tokens = estimate_tokens(typical.input, as_prompt=False)
        first = first_samples(config.samples_per_input)
        output_tokens = first * estimate_tokens(typical.output, as_prompt=False)
        completion_tokens = inputs * config.inputs_per_request * input_tokens + outputs * output_tokens
        worst = (
            price.cost(
                estimate_tokens(output_prompt),
                first * reply_budget(config, len(typical.output)),
            )
            if price is not None
            else None
        )
        return Estimate(
            model=self.teacher.name,
            price=price,
            input_requests=inputs,
            output_requests=outputs,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=price.cost(prompt_tokens, completion_tokens) if price is not None else None,
            max_requests=requests_left,
            max_cost=_at_most(worst, requests_left, self.max_cost, state.cost),
            examples_left=left,
            acceptance=acceptance,
        )


def reply_budget(config: GenerationConfig, longest_chars: int) -> int:
    """Tokens a teacher reply may take: the configured limit, else room for three times the
    longest demonstration (16 tokens at least).

    A question with its paragraph needs a few hundred tokens, a date a dozen. A fixed 48 cut long
    inputs short, and let short ones ramble: at the annealed high temperatures a wave of inputs
    ran to its limit on some sequence every time, which made input waves the slowest part of
    generating (docs/BENCHMARKS.md, Quality).
    """
    if config.max_new_tokens is not None:
        return config.max_new_tokens
    return max(MIN_REPLY_TOKENS, math.ceil(3 * longest_chars / CHARS_PER_TOKEN))


def generated_shown(config: GenerationConfig, task: TaskSpec) -> int:
    """How many generated examples each request shows beside the user's demonstrations.

    A task without demonstrations of its own is shown some whatever the setting: they are all
    that shows the teacher the pattern to continue.
    """
    return config.demonstrations_per_request or (0 if task.examples else ZERO_SHOT_DEMONSTRATIONS)


def _typical_prompts(task: TaskSpec, config: GenerationConfig, chat: bool) -> tuple[str, str, Example]:
    """An input and an output prompt of the size the run will send, and an example of typical size."""
    typical = _typical_example(task.examples)
    demonstrations = list(task.examples) + [typical] * generated_shown(config, task)
    labelling = list(task.examples) or demonstrations
    return (
        prompts.input_prompt(task.instruction, demonstrations, chat),
        prompts.output_prompt(task.instruction, labelling, typical.input, chat),
        typical,
    )


def _typical_example(examples: tuple[Example, ...]) -> Example:
    """An example of the demonstrations' mean lengths (a sentence in, a phrase out, for zero-shot)."""
    if not examples:
        return Example("x" * 80, "x" * 20)
    mean_input = sum(len(e.input) for e in examples) // len(examples)
    mean_output = sum(len(e.output) for e in examples) // len(examples)
    return Example("x" * mean_input, "x" * mean_output)


def _at_most(worst: float | None, requests: int, max_cost: float | None, spent: float) -> float | None:
    """The most a run can still spend: every request at its worst, but never past `max_cost`."""
    if worst is None:
        return None
    bound = worst * requests
    return bound if max_cost is None else min(bound, max(max_cost - spent, 0.0))


class _Run:
    """One call of `DatasetGenerator.generate`: plans the waves and takes in every reply."""

    def __init__(
        self,
        generator: DatasetGenerator,
        task: TaskSpec,
        state: GenerationState,
        budget: Budget,
        journal: Journal,
        bar: Progress,
    ) -> None:
        self.config = generator.config
        self.teacher = generator.teacher
        self.seed = generator.seed
        self.task = task
        self.state = state
        self.budget = budget
        self.journal = journal
        self.bar = bar
        self.input_filter = InputFilter(task, generator.near_duplicate_threshold)
        self.output_filter = OutputFilter(task)
        for example in state.examples:
            self.input_filter.keep(example.input)
        for waiting in state.pending_inputs:
            self.input_filter.keep(waiting)
        self.in_flight: Counter[str] = Counter()
        self.failed = 0
        self.started = time.monotonic()
        self.replies = 0
        self.status_at = 0.0

    def run(self) -> dict[str, int]:
        """Generate until done or out of budget; returns the engine's fault counts."""
        if isinstance(self.teacher, StreamingTeacher):
            return self.teacher.stream(self.next_jobs, self.on_reply, self.on_failure).faults()
        # One batch at a time: the local teacher decodes a batch's sequences together.
        while jobs := self.next_jobs(self._wave_prompts(), fill_batch=True):
            completions = self.teacher.complete([job.prompt for job in jobs], jobs[0].params)
            for job, completion in zip(jobs, completions, strict=True):
                self.on_reply(job, completion)
        return {}

    def _wave_prompts(self) -> int:
        """Prompts for the next padded batch: the configured batch size, or as many as fill the
        sequences a local teacher runs best at once (each output prompt is sampled several times)."""
        sequences = getattr(self.teacher, "wave_sequences", None)
        if sequences is None:
            return self.config.batch_size
        config = self.config
        pending = self.state.pending_inputs
        per_prompt = first_samples(config.samples_per_input) if pending else config.inputs_per_request
        return max(1, sequences // per_prompt)

    def next_jobs(self, free: int, fill_batch: bool = False) -> list[Job]:
        """Up to `free` jobs of one kind: outputs for waiting inputs first, else new inputs.

        Outputs in flight count as examples already, so no more are asked for than the set needs.
        Requests for new inputs are sent as many as, at the rate their inputs have been passing
        the filters, it takes to fill the rest, and as the request bound leaves room for with
        their outputs; or `free` of them with `fill_batch`.
        """
        missing = self.config.num_examples - len(self.state.examples) - self.in_flight["output"]
        if missing <= 0:
            return []
        if self.state.pending_inputs:
            return self._output_jobs(self.state.pending_inputs[: min(free, missing)])
        if fill_batch:
            return self._input_jobs(free)
        per_request = self.config.inputs_per_request
        passing = self.state.acceptance("input", per_request)
        wanted = math.ceil((missing - self.in_flight["input"] * passing) / passing)
        # Inputs are worth their request only if the budget leaves room for their outputs as well.
        room = self.budget.pairs_left(self.in_flight["input"], per_request)
        return self._input_jobs(min(free, wanted, room if room is not None else wanted))

    def _input_jobs(self, count: int) -> list[Job]:
        temperature = annealed_temperature(
            len(self.state.examples),
            self.config.num_examples,
            self.config.initial_temperature,
            self.config.max_temperature,
        )
        longest = max((len(e.input) for e in self.task.examples), default=0)
        params = SamplingParams(
            self.config.inputs_per_request, temperature, self._reply_budget(longest), prompts.INPUT_STOP
        )
        prompt_list = [
            prompts.input_prompt(self.task.instruction, demonstrations, is_chat(self.teacher))
            for demonstrations in self._demonstrations(count, "input")
        ]
        return self._reserve("input", prompt_list, params, [""] * count)

    def _output_jobs(self, inputs: list[str]) -> list[Job]:
        prompt_list = [
            prompts.output_prompt(self.task.instruction, demonstrations, text, is_chat(self.teacher))
            for text, demonstrations in zip(inputs, self._labelling_demonstrations(len(inputs)), strict=True)
        ]
        # Annealing is for the diversity of inputs, while majority voting needs samples that
        # agree when the teacher knows the answer. An input asked again gets as many samples as
        # a first request, so that one wave of the local teacher holds both (it samples every
        # prompt of a wave alike); the vote takes only the ones it lacks.
        params = SamplingParams(
            first_samples(self.config.samples_per_input),
            self.config.label_temperature,
            self._reply_budget(max((len(e.output) for e in self.task.examples), default=0)),
            prompts.OUTPUT_STOP,
            first_line=True,
        )
        jobs = self._reserve("output", prompt_list, params, inputs)
        del self.state.pending_inputs[: len(jobs)]
        return jobs

    def _reply_budget(self, longest_chars: int) -> int:
        return reply_budget(self.config, longest_chars)

    def _reserve(
        self, step: str, prompt_list: list[str], params: SamplingParams, inputs: list[str]
    ) -> list[Job]:
        """Jobs for the prompts that the budget still allows, as one wave."""
        jobs = []
        for prompt, text in zip(prompt_list, inputs, strict=True):
            reserved = self.budget.reserve(prompt, params)
            if reserved is None:
                break
            jobs.append(Job(prompt, params, _Ask(step, self.state.rounds, reserved, text)))
        if jobs:
            self.state.rounds += 1
            self.in_flight[step] += len(jobs)
        return jobs

    def _labelling_demonstrations(self, count: int) -> list[list[Example]]:
        """Demonstrations for `count` output prompts: the user's own, as the prompted teacher sees them.

        Few-shot diversity is for inputs. Labelled after the user's demonstrations alone, the
        teacher got at least as many of four real test sets' answers right as with generated
        examples, whose wrong labels it may copy, mixed in (docs/BENCHMARKS.md, Quality), and it
        reads shorter prompts. A task without demonstrations is shown
        generated examples, as its inputs are.
        """
        if self.task.examples:
            return [list(self.task.examples)] * count
        return self._demonstrations(count, "output")

    def _demonstrations(self, count: int, step: str) -> list[list[Example]]:
        """Demonstrations for `count` prompts, each sampled anew from a wave- and step-seeded stream."""
        rng = random.Random(f"{self.seed}/{self.state.rounds}/{step}")
        k = generated_shown(self.config, self.task)
        return [sample_demonstrations(self.task.examples, self.state.examples, k, rng) for _ in range(count)]

    def on_reply(self, job: Job, completion: Completion) -> None:
        """Take in one reply: account for it, filter it, and write it down before anything else."""
        ask: _Ask = job.tag
        self.in_flight[ask.step] -= 1
        cost = self.budget.settle(ask.reserved, job.prompt, completion)
        self.state.usage = self.state.usage.add(completion)
        self.state.cost = self.budget.cost
        self.state.replies[ask.step] += 1
        row = {
            "round": ask.round,
            "step": ask.step,
            "temperature": round(job.params.temperature, 4),
            "prompt": job.prompt,
            "texts": list(completion.texts),
            "usage": {
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
            },
            "cost": round(cost, 10),
        }
        if ask.step == "input":
            self._take_inputs(row, completion)
        else:
            self._take_output(row, ask.input, completion)
        self._show_progress()

    def _take_inputs(self, row: dict[str, Any], completion: Completion) -> None:
        accepted, rejected = [], []
        for text in completion.texts:
            candidate = prompts.extract_input(text)
            reason = self.input_filter.rejection(candidate)
            if reason is None:
                self.input_filter.keep(candidate)
                accepted.append(candidate)
            else:
                rejected.append(reason)
        self.journal.reply(row | {"accepted": accepted, "rejected": rejected})
        self.state.pending_inputs += accepted
        self.state.passed["input"] += len(accepted)
        self.state.rejected.update(rejected)

    def _take_output(self, row: dict[str, Any], new_input: str, completion: Completion) -> None:
        asked_again = new_input in self.state.first_votes
        earlier = self.state.first_votes.pop(new_input, [])
        wanted = self.config.samples_per_input - len(earlier)
        samples = earlier + [prompts.extract_output(text) for text in completion.texts][:wanted]
        labels = closed_label_set(self.task.examples, self.state.examples)
        complete = len(samples) >= self.config.samples_per_input
        decided = complete or self.output_filter.unanimous(samples, labels)
        # Asked again once at most: an endpoint that sends fewer samples than asked gets no third chance.
        if not decided and not asked_again:
            # Without a majority yet: the input waits for the rest of its samples, ahead of the
            # inputs not yet asked, behind those that came back before it.
            self.journal.reply(row | {"input": new_input, "samples": samples, "asked_again": True})
            waiting = self.state.pending_inputs
            behind = next((i for i, text in enumerate(waiting) if text not in self.state.first_votes), None)
            waiting.insert(len(waiting) if behind is None else behind, new_input)
            self.state.first_votes[new_input] = samples
            return
        output, reason = self.output_filter.choose(new_input, samples, labels)
        # How many samples agree with the kept answer: how sure the teacher was of its label.
        agreement = samples.count(output) / len(samples) if output is not None and samples else None
        self.journal.reply(
            row
            | {"input": new_input, "samples": samples, "output": output}
            | {"rejected": [reason] if reason else []}
            | ({"agreement": round(agreement, 4)} if agreement is not None else {})
        )
        if output is None:
            self.state.rejected[reason] += 1
            return
        example = Example(new_input, output)
        self.journal.example(example)
        self.state.examples.append(example)
        self.state.passed["output"] += 1
        self.bar.update(0, advance=1)

    def on_failure(self, job: Job, message: str) -> None:
        """A job failed after its retries: nothing was paid; an input goes back to wait for its output."""
        ask: _Ask = job.tag
        self.in_flight[ask.step] -= 1
        self.budget.release(ask.reserved)
        self.failed += 1
        if ask.step == "output":
            self.state.pending_inputs.insert(0, ask.input)
        log.info("request given up: %s", message)

    def _show_progress(self) -> None:
        """Count a reply; show the status a few times a second."""
        self.replies += 1
        if time.monotonic() - self.status_at >= _STATUS_EVERY_S:
            self.show_status()

    def show_status(self) -> None:
        """Requests, requests/s, tokens and cost on the bar (the bar shows accepted examples and ETA)."""
        self.status_at = now = time.monotonic()
        usage = self.state.usage
        rate = self.replies / max(now - self.started, 1e-9)
        cost = f" · ${self.budget.cost:.4f}" if self.budget.price is not None else ""
        tokens = usage.prompt_tokens + usage.completion_tokens
        status = f"{usage.requests}/{self.config.max_requests} req · {rate:.1f} req/s · {tokens:,} tok{cost}"
        self.bar.update(0, status=status)
