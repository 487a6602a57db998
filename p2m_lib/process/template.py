"""The paper's textualisation: how a task's instruction and one input become the model's prompt.

Every task is text to text. The prompt has five lines, each ending in a newline:

    <task 0>
    {instruction}
    Example:
    {input}
    Label:

so `TaskTemplate("Reverse the word.", "decoder-only").prompt("abc")` is
``"<task 0>\\nReverse the word.\\nExample:\\nabc\\nLabel:\\n"``. The instruction and the input are
stripped of outer whitespace; an empty task tag leaves its line out, and so does the instruction
of a template made with `instruction_in_prompt=False` (a student learns one task from its
examples, and its prompts are then shorter). An encoder-decoder model reads
the prompt and is trained to write the output; a decoder-only model is trained on the prompt
followed by the output and its EOS token, and answers by continuing the prompt.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal

from p2m_lib.errors import P2MError

TEMPLATE_FILE = "p2m_template.json"
ENCODER_DECODER = "encoder-decoder"
DECODER_ONLY = "decoder-only"
ModelKind = Literal["encoder-decoder", "decoder-only"]
EXAMPLE_MARKER = "Example:"
LABEL_MARKER = "Label:"


@dataclass(frozen=True)
class TaskTemplate:
    """The prompt layout a model is trained with, saved next to the model so inference reuses it.

    Attributes:
        instruction: The task's instruction, the same for every example.
        kind: "encoder-decoder" or "decoder-only": how the model consumes prompt and output.
        task_tag: The paper's task tag, first line of every prompt ("" leaves it out).
        instruction_in_prompt: Whether prompts carry the instruction (the paper's layout) or
            leave its line out; the instruction still names the task (model card, demo page).
        label_counts: A classification task's labels and how many training rows the teacher
            wrote with each: the model then answers with one of them, chosen by its likelihood
            with the teacher's mix of labels divided out (`p2m_lib.train.labels`). Empty: the
            model writes its answer.
    """

    instruction: str
    kind: ModelKind
    task_tag: str = "<task 0>"
    instruction_in_prompt: bool = True
    label_counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in (ENCODER_DECODER, DECODER_ONLY):
            raise P2MError(f"unknown model kind {self.kind!r}; expected {ENCODER_DECODER} or {DECODER_ONLY}")

    def prompt(self, input: str) -> str:
        """The model input for one example input; see the module docstring for the layout."""
        lines = [self.task_tag] if self.task_tag else []
        lines += [self.instruction.strip()] if self.instruction_in_prompt else []
        lines += [EXAMPLE_MARKER, input.strip(), LABEL_MARKER]
        return "\n".join(lines) + "\n"

    def training_text(self, input: str, output: str, eos_token: str) -> str:
        """The decoder-only training sequence as text: prompt, output, EOS token.

        Training tokenizes the prompt and the output separately (so that the prompt's tokens are
        exactly those inference sees); this text is what those tokens spell.

        Raises:
            ValueError: For an encoder-decoder template, whose output is a separate target.
        """
        if self.kind != DECODER_ONLY:
            raise ValueError("an encoder-decoder model reads the prompt and writes the output separately")
        return self.prompt(input) + output.strip() + eos_token

    def answer(self, generated: str) -> str:
        """The answer inside a model's continuation of the prompt.

        Small models often go on to invent the next example. The text is cut at the first run of
        newlines that is followed (after optional spaces or tabs) by the task tag, "Example:" or
        "Label:" — the start of a new block of this template — then stripped. Newlines inside an
        answer are kept.
        """
        markers = [EXAMPLE_MARKER, LABEL_MARKER] + ([self.task_tag] if self.task_tag else [])
        next_block = re.compile(r"\n+[ \t]*(?:" + "|".join(map(re.escape, markers)) + ")")
        match = next_block.search(generated)
        return (generated[: match.start()] if match else generated).strip()

    def save(self, folder: Path) -> Path:
        """Write the template as `p2m_template.json` into `folder` and return the file's path."""
        path = Path(folder) / TEMPLATE_FILE
        path.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder: Path) -> TaskTemplate:
        """Read the template saved in a model folder.

        Raises:
            P2MError: If the folder has no `p2m_template.json` (not a model p2m trained).
        """
        path = Path(folder) / TEMPLATE_FILE
        if not path.is_file():
            raise P2MError(f"{folder} has no {TEMPLATE_FILE}: it is not a model folder p2m trained")
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{field.name: data[field.name] for field in fields(cls) if field.name in data})
