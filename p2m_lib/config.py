"""Run profiles: how much to generate and how hard to train, chosen by one name."""

from __future__ import annotations

from dataclasses import dataclass, replace

from p2m_lib.errors import P2MError


@dataclass(frozen=True)
class GenerationConfig:
    """The paper's generation settings (DESIGN.md, Generation).

    Attributes:
        num_examples: How many examples to generate.
        samples_per_input: Outputs sampled per generated input for self-consistency.
        initial_temperature: Annealing start (paper: 0.5).
        max_temperature: Annealing end (paper: 1.7).
        demonstrations_per_request: Already generated examples added to each request.
        max_requests: Hard bound on teacher requests so a bad teacher cannot spin forever.
        batch_size: Prompts sent together (one padded batch locally, concurrent requests remotely).
        max_new_tokens: Longest teacher reply for an input or an output.
        max_cost: Most money (USD) to spend on the teacher, over all runs into the same folder;
            None for no limit. Priced by `p2m_lib.llm.cost.PriceTable`.
    """

    num_examples: int = 40
    samples_per_input: int = 3
    initial_temperature: float = 0.5
    max_temperature: float = 1.7
    demonstrations_per_request: int = 3
    max_requests: int = 200
    batch_size: int = 4
    max_new_tokens: int = 48
    max_cost: float | None = None


@dataclass(frozen=True)
class TrainConfig:
    """Fine-tuning settings.

    Attributes:
        epochs: Passes over the training split (paper: 3).
        learning_rate: AdamW learning rate.
        batch_size: Examples per optimizer step.
        max_length: Longest tokenized prompt plus target; longer ones are truncated.
        lora: Train LoRA adapters (peft) instead of every weight.
        max_steps: Upper bound on optimizer steps (0: no bound beyond `epochs`).
        seed: Seed for shuffling and initialisation.
    """

    epochs: int = 3
    learning_rate: float = 5e-5
    batch_size: int = 8
    max_length: int = 128
    lora: bool = False
    max_steps: int = 0
    seed: int = 42


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
        generation=GenerationConfig(num_examples=40, samples_per_input=3, max_requests=120),
        train=TrainConfig(epochs=3, learning_rate=1e-4, batch_size=8, max_length=128, max_steps=60),
        max_eval_examples=40,
    ),
    "standard": Profile(
        name="standard",
        generation=GenerationConfig(num_examples=300, samples_per_input=5, max_requests=2000),
        train=TrainConfig(epochs=3, learning_rate=5e-5, batch_size=8, max_length=256),
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
