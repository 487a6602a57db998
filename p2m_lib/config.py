"""Run profiles: how much to generate and how hard to train, chosen by one name."""

from __future__ import annotations

from dataclasses import dataclass, replace

from p2m_lib.errors import P2MError


@dataclass(frozen=True)
class GenerationConfig:
    """The paper's generation settings (DESIGN.md, Generation).

    Attributes:
        num_examples: How many examples to generate.
        samples_per_input: Outputs the self-consistency vote of a generated input is over. A
            majority of them is sampled first (`first_samples`: 2 of 3), the rest only when
            those disagree: the kept outputs are the full vote's, for fewer samples.
        initial_temperature: Annealing start for inputs (paper: 0.5).
        max_temperature: Annealing end for inputs (paper: 1.7).
        label_temperature: Temperature of the output samples that self-consistency votes over:
            low, so that they agree where the teacher knows the answer (paper: the annealing
            start, 0.5).
        demonstrations_per_request: Already generated examples added to each request for inputs
            (the paper's few-shot diversity). 0: the user's demonstrations alone, as the prompt
            gives them, so that every request for inputs is the same prompt (a task without
            demonstrations is shown generated examples all the same).
        inputs_per_request: New inputs sampled from each request for inputs (the reply's `n`).
            The request is read once for all of them: from the embedded teacher on 2 cores, four
            inputs from one prompt cost about 0.4 s each against 0.65 s for one input per prompt
            (docs/BENCHMARKS.md, Teacher); an endpoint bills the prompt once. The paper asks for one.
            Eight from half as many prompts made a wave of 32 inputs 31% shorter, but in the one
            run measured the teacher wrote half as many forms of date and the student scored
            85.0 against 92.5 and 95.0 (docs/BENCHMARKS.md), so the profiles keep four.
        max_requests: Hard bound on teacher requests so a bad teacher cannot spin forever.
        batch_size: Prompts sent together (one padded batch locally, concurrent requests remotely).
        max_new_tokens: Longest teacher reply for an input or an output; None: room for three
            times the longest demonstration input (output), 16 tokens at least.
        max_cost: Most money (USD) to spend on the teacher, over all runs into the same folder;
            None for no limit. Priced by `p2m_lib.llm.cost.PriceTable`.
        judge: After generation, ask the teacher whether each kept pair is correct and drop
            those it judges wrong (`p2m_lib.generate.judge`).
    """

    num_examples: int = 40
    samples_per_input: int = 3
    initial_temperature: float = 0.5
    max_temperature: float = 1.7
    label_temperature: float = 0.5
    demonstrations_per_request: int = 3
    inputs_per_request: int = 1
    max_requests: int = 200
    batch_size: int = 4
    max_new_tokens: int | None = None
    max_cost: float | None = None
    judge: bool = False


@dataclass(frozen=True)
class TrainConfig:
    """Fine-tuning settings.

    Steps come from the data size: `epochs` passes over the training rows, raised to
    `min_steps` for small data and capped by `max_steps` (see `p2m_lib.train.planned_steps`);
    `time_budget_s` stops a run that would take longer on a slow or busy machine.

    Attributes:
        epochs: Passes over the training split (paper: 3).
        learning_rate: AdamW peak learning rate.
        batch_size: Examples per optimizer step.
        max_length: Longest tokenized prompt plus target; longer ones are truncated.
        lora: Train LoRA adapters (peft) instead of every weight.
        max_steps: Upper bound on optimizer steps (0: no bound beyond `epochs`).
        seed: Seed for shuffling and initialisation.
        min_steps: Lower bound on optimizer steps, for small training sets (0: none); early
            stopping waits for them too.
        warmup_ratio: Share of the steps over which the learning rate rises from 0 to its peak;
            it then decays linearly to 0 at the last planned step.
        eval_every: Steps between validations (exact match of greedy answers on the validation
            split, and its loss); each validation also checkpoints. 0: about five per run.
        patience: Stop after this many validations in a row that improve neither the best
            validation exact match nor the best validation loss; 0: never stop early. The model
            kept is always the best validated one (exact match; within its noise, the later step).
        time_budget_s: Stop training (validating and keeping the best model so far) once this
            many seconds have passed in this process; 0: no limit.
        freeze_embeddings: Keep the token embeddings (and an output layer tied to them) as they
            are in full fine-tuning: a few hundred examples cannot improve a 49k-token
            vocabulary, and skipping its gradient and optimizer state saves time.
        bf16: Compute in bfloat16 autocast (weights and optimizer stay float32) where the
            hardware does it natively (a CUDA GPU with bf16, a CPU with AVX512-BF16 or AMX);
            elsewhere float32.
        instruction_in_prompt: Put the task's instruction in every prompt of the student (the
            paper's template). A student learns one task from its examples; without the
            instruction its prompts are shorter, so training and answering take less time.
    """

    epochs: int = 3
    learning_rate: float = 5e-5
    batch_size: int = 8
    max_length: int = 128
    lora: bool = False
    max_steps: int = 0
    seed: int = 42
    min_steps: int = 0
    warmup_ratio: float = 0.0
    eval_every: int = 0
    patience: int = 0
    time_budget_s: float = 0.0
    freeze_embeddings: bool = True
    bf16: bool = True
    instruction_in_prompt: bool = True


@dataclass(frozen=True)
class Profile:
    """Everything a run needs to know about its budget."""

    name: str
    generation: GenerationConfig
    train: TrainConfig
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    max_eval_examples: int = 200
    max_new_tokens: int = 48


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        # As many teacher-written examples as 15 minutes on 2 cores leave room for: more examples
        # are what the student gains most from (SST-2 from the prompt alone: 87.5 with 200, 95.0
        # with 600). Several inputs a request and min-p sampling made generation fast enough for 400:
        # `make run`'s task 95.0 with 400 in 12.2 minutes, 87.5 with 300; German tweets 45.0 with
        # 400, 30.0 with 300 (docs/BENCHMARKS.md, Quality).
        # Inputs annealed from 1.0, not the paper's 0.5: under the local teacher's min-p, inputs
        # sampled near 0.5 repeated themselves (docs/BENCHMARKS.md, Quality).
        # No generated examples in requests for inputs: the embedded teacher wrote more varied
        # inputs from the user's demonstrations alone (SST-2: no duplicates where it had copied its own),
        # and one prompt for every request is read once, which took generation from 1,114 s to
        # 630 s on SST-2 (docs/BENCHMARKS.md, Quality).
        generation=GenerationConfig(
            num_examples=400,
            samples_per_input=3,
            inputs_per_request=4,
            max_requests=1200,
            initial_temperature=1.0,
            demonstrations_per_request=0,
        ),
        # Training is bounded by steps, so that the model does not depend on how busy the machine
        # is; the time budget is only a safety net against a machine far slower than planned.
        # Without the instruction in its prompts (21 of a date row's 55 tokens) the student trained
        # on the same rows scored the same on dates, SST-2 and tickets (two rows less on German
        # tweets) in 40 to 50% less time: dates 331 s against 562, SST-2 387 s against 657
        # (docs/BENCHMARKS.md, Quality).
        train=TrainConfig(
            epochs=3,
            learning_rate=1e-4,
            batch_size=8,
            max_length=128,
            min_steps=100,
            max_steps=150,
            patience=2,
            time_budget_s=3600,
            instruction_in_prompt=False,
        ),
        max_eval_examples=40,
    ),
    "standard": Profile(
        name="standard",
        # 600 examples: from the prompt alone they took the student from 87.5 (200) to 95.0 on
        # SST-2 (teacher 97.5), where more steps on the same data gained nothing
        # (docs/BENCHMARKS.md, Quality). About 1 s an example from the embedded teacher on 2
        # cores; an endpoint or a GPU writes them far faster.
        generation=GenerationConfig(
            num_examples=600,
            samples_per_input=3,
            inputs_per_request=4,
            max_requests=1800,
            initial_temperature=1.0,
        ),
        # The quick recipe without its cap of 150 steps: on a GPU, lr 5e-5 did no better than 1e-4
        # on five prompt-only tasks' data.
        train=TrainConfig(
            epochs=3, learning_rate=1e-4, batch_size=8, max_length=256, min_steps=100, patience=2
        ),
        max_eval_examples=200,
    ),
}


def get_profile(name: str, **overrides: object) -> Profile:
    """Return the named profile, with top-level fields replaced by `overrides`."""
    try:
        profile = PROFILES[name]
    except KeyError:
        raise P2MError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}") from None
    return replace(profile, **overrides) if overrides else profile


# LoRA's adapters are few and start at zero, so they take a rate about ten times full fine-tuning's:
# at 1e-3 they matched full fine-tuning at 1e-4 on the quality tasks (docs/BENCHMARKS.md, Quality).
LORA_LEARNING_RATE = 1e-3


def tuned_training(train: TrainConfig, lora: bool = False, learning_rate: float | None = None) -> TrainConfig:
    """`train` with LoRA switched on and/or another peak learning rate.

    Switching LoRA on also sets `LORA_LEARNING_RATE`, unless `learning_rate` is given.

    Raises:
        P2MError: If `learning_rate` is not a positive number below 1.
    """
    if learning_rate is not None and not 0 < learning_rate < 1:
        raise P2MError(f"the learning rate must be between 0 and 1 (exclusive), not {learning_rate:g}")
    if lora:
        train = replace(train, lora=True, learning_rate=LORA_LEARNING_RATE)
    return replace(train, learning_rate=learning_rate) if learning_rate is not None else train
