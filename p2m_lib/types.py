"""Small frozen dataclasses that travel between stages (and to and from JSON on disk)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Example:
    """One input/output demonstration or training pair."""

    input: str
    output: str

    def to_dict(self) -> dict[str, str]:
        return {"input": self.input, "output": self.output}


INPUT_SLOT = "{input}"


@dataclass(frozen=True)
class PromptLayout:
    """How the user's own prompt presents one input, so that any bare input can be put into it.

    Attributes:
        query: What follows the prompt to ask for one answer, `INPUT_SLOT` marking the input:
            "Input: {input}\nOutput:" for labelled demonstrations, "{input} ->" for arrow lines.
        separator: What the prompt puts between two demonstrations ("\n\n", "\n").
        input_prefix: A wrapper that every demonstration's input carried (`Review: "`), taken
            out of the demonstrations so that they hold bare inputs like a real test set's.
        input_suffix: The wrapper's end (the closing quote).
    """

    query: str = "Input: {input}\nOutput:"
    separator: str = "\n\n"
    input_prefix: str = ""
    input_suffix: str = ""

    def present(self, text: str) -> str:
        """`text` (a bare input) as the user's prompt would ask for its answer."""
        return self.query.replace(INPUT_SLOT, self.input_prefix + text + self.input_suffix)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class TaskSpec:
    """What the user asked for: the parsed prompt.

    Attributes:
        instruction: What the model must do; never empty.
        examples: The user's demonstrations, exactly as given (never invented).
        prompt: The user's original prompt text, used to prompt the teacher for the baseline.
        retrieval_instruction: The instruction in English, for retrieval (same as
            `instruction` when the prompt is English or no translator was available).
        layout: How the prompt presents an input; the examples' inputs are bare (its wrapper
            taken out), as a test set's, a retrieved dataset's and a served request's are.
    """

    instruction: str
    examples: tuple[Example, ...] = ()
    prompt: str = ""
    retrieval_instruction: str = ""
    layout: PromptLayout = field(default_factory=PromptLayout)

    def to_dict(self) -> dict[str, Any]:
        return {
            "instruction": self.instruction,
            "examples": [e.to_dict() for e in self.examples],
            "prompt": self.prompt,
            "retrieval_instruction": self.retrieval_instruction or self.instruction,
            "layout": self.layout.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskSpec:
        return cls(
            instruction=data["instruction"],
            examples=tuple(Example(e["input"], e["output"]) for e in data.get("examples", [])),
            prompt=data.get("prompt", ""),
            retrieval_instruction=data.get("retrieval_instruction", ""),
            layout=PromptLayout(**data.get("layout", {})),
        )


@dataclass(frozen=True)
class SamplingParams:
    """How the teacher samples: `n` completions per prompt, each at most `max_tokens` long.

    `instruction` marks a prompt to obey rather than a pattern to continue (the JSON parse, the
    rerank, HyDE, the column choice): a teacher that continues raw text presents it as a chat
    turn in its own template; one that always chats (a remote model) sends it as it does any prompt.

    `first_line` says that the caller keeps only the reply's first line of text
    (`p2m_lib.llm.base.first_text_line`), so a teacher may end a sequence as soon as that line has
    ended: the local teacher does, an endpoint cannot be told (its reply is read the same way).
    """

    n: int = 1
    temperature: float = 0.7
    max_tokens: int = 64
    stop: tuple[str, ...] = ()
    instruction: bool = False
    first_line: bool = False


@dataclass(frozen=True)
class Completion:
    """The teacher's reply to one prompt: `n` texts and the tokens they cost."""

    texts: tuple[str, ...]
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Usage:
    """Token usage summed over many requests."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, completion: Completion) -> Usage:
        return Usage(
            self.requests + 1,
            self.prompt_tokens + completion.prompt_tokens,
            self.completion_tokens + completion.completion_tokens,
        )

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Metrics:
    """Scores of predictions against references, each in [0, 100]."""

    exact_match: float
    chrf: float
    bertscore: float
    count: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class TrainResult:
    """What training produced: the model folder and how it got there.

    Attributes:
        eval_history: (step, validation exact match, validation loss) of every validation.
        best_step: The step of the model saved (the best validated one, else the last step).
        stopped_by: "last step", "early stopping" or "time budget".
    """

    model_dir: str
    model_name: str
    parameters: int
    trainable_parameters: int
    steps: int
    loss_history: tuple[tuple[int, float], ...] = field(default=())
    resumed_from: str | None = None
    eval_history: tuple[tuple[int, float, float], ...] = field(default=())
    best_step: int | None = None
    stopped_by: str = "last step"
