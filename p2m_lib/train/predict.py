"""Answers from a trained model folder: the one code path for evaluation and for serving."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2m_lib.errors import P2MError
from p2m_lib.process.template import DECODER_ONLY, TaskTemplate
from p2m_lib.progress import quiet_transformers
from p2m_lib.train.encoding import end_of_sequence_ids, pad_id, pad_to, prompt_ids, truncate_middle
from p2m_lib.train.labels import choose_labels

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


class StudentPredictor:
    """A model folder written by `train`, loaded with the template it was trained with.

    Attributes:
        model: The model, in eval mode, on the GPU when there is one.
        tokenizer: Its tokenizer (left padding for decoder-only models).
        template: The saved prompt template.
    """

    def __init__(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, template: TaskTemplate
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.template = template

    @classmethod
    def load(cls, model_dir: Path) -> StudentPredictor:
        """Load the model, tokenizer and `p2m_template.json` from `model_dir`.

        Raises:
            P2MError: If the folder does not exist or was not written by p2m training.
        """
        import torch
        from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise P2MError(f"model folder {model_dir} does not exist")
        template = TaskTemplate.load(model_dir)
        model_class = AutoModelForCausalLM if template.kind == DECODER_ONLY else AutoModelForSeq2SeqLM
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
            model = model_class.from_pretrained(model_dir, trust_remote_code=False)
        tokenizer.padding_side = "left" if template.kind == DECODER_ONLY else "right"
        device = "cuda" if torch.cuda.is_available() else "cpu"
        return cls(model.to(device).eval(), tokenizer, template)

    def predict(
        self, inputs: Sequence[str], batch_size: int = 8, max_new_tokens: int | None = None
    ) -> list[str]:
        """Answers, one per input, in the order given.

        A template with `label_counts` (a classification task the teacher labelled) answers
        with one of its labels (`p2m_lib.train.labels.choose_labels`); any other decodes greedily.

        Each input is wrapped in the template; a prompt longer than the training length
        (`tokenizer.model_max_length`) loses tokens from its middle, as in training. Decoding
        follows the model folder's generation config: greedy, at most its `max_new_tokens`, and
        it stops at EOS or at one of its `stop_strings` (training saves ["\\n"] when no
        training output spans lines, so a one-line answer ends where its line ends). The
        answer is the text generated after the prompt (the input is never echoed), before the
        first EOS token and the first stop string, cut where the model starts a new template
        block (see `TaskTemplate.answer`) and stripped.

        Args:
            inputs: Task inputs (not prompts).
            batch_size: Inputs decoded together; batches are formed from inputs of similar
                length to waste little on padding.
            max_new_tokens: Longest answer in tokens; None uses the saved generation config's.
        """
        if self.template.label_counts:
            return choose_labels(self.model, self.tokenizer, self.template, inputs, batch_size)
        prompts = [
            truncate_middle(prompt_ids(self.tokenizer, self.template, text), self.tokenizer.model_max_length)
            for text in inputs
        ]
        by_length = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        answers: dict[int, str] = {}
        for start in range(0, len(by_length), batch_size):
            batch = by_length[start : start + batch_size]
            generated = self._generate([prompts[i] for i in batch], max_new_tokens)
            answers.update(zip(batch, generated, strict=True))
        return [answers[i] for i in range(len(prompts))]

    @property
    def stop_strings(self) -> list[str]:
        """The strings that end an answer, from the generation config (empty when none)."""
        stops = getattr(self.model.generation_config, "stop_strings", None) or []
        return [stops] if isinstance(stops, str) else list(stops)

    def _generate(self, prompts: list[list[int]], max_new_tokens: int | None) -> list[str]:
        import torch

        batch = self._pad(prompts)
        overrides: dict[str, Any] = {"max_new_tokens": max_new_tokens} if max_new_tokens else {}
        if self.stop_strings:
            # generate() needs the tokenizer to match stop strings across token boundaries.
            overrides["tokenizer"] = self.tokenizer
        with torch.inference_mode():
            # The saved generation config (greedy, EOS and pad ids, stop strings) applies; only
            # its length may be overridden.
            output = self.model.generate(**batch, **overrides)
        # Decoder-only output repeats the prompt; encoder-decoder output starts with the decoder start id.
        skip = batch["input_ids"].shape[1] if self.template.kind == DECODER_ONLY else 1
        return [self._answer(sequence) for sequence in output[:, skip:]]

    def _pad(self, prompts: list[list[int]]) -> dict[str, torch.Tensor]:
        """Prompts padded to the longest: on the left for decoder-only models (generation continues
        the last token), on the right for encoder-decoder ones, whatever the tokenizer's own side.
        """
        import torch

        width = max(len(ids) for ids in prompts)
        fill = pad_id(self.tokenizer)
        side = "left" if self.template.kind == DECODER_ONLY else "right"
        ids = [pad_to(prompt, width, fill, side) for prompt in prompts]
        mask = [pad_to([1] * len(prompt), width, 0, side) for prompt in prompts]
        device = self.model.device
        return {
            "input_ids": torch.tensor(ids, device=device),
            "attention_mask": torch.tensor(mask, device=device),
        }

    def _answer(self, sequence: torch.Tensor) -> str:
        ids = sequence.tolist()
        ends = end_of_sequence_ids(self.model, self.tokenizer)
        ids = ids[: next((i for i, token in enumerate(ids) if token in ends), len(ids))]
        return self.template.answer(
            cut_at_stop(self.tokenizer.decode(ids, skip_special_tokens=True), self.stop_strings)
        )


def cut_at_stop(text: str, stop_strings: Sequence[str]) -> str:
    """`text` up to (not including) the earliest occurrence of any stop string.

    Leading whitespace is skipped before searching, so an answer that starts on a new line is
    not cut to nothing: `cut_at_stop("\\n2020-01-02\\nExample", ["\\n"])` is "2020-01-02".
    """
    body = text.lstrip()
    ends = [index for stop in stop_strings if stop and (index := body.find(stop)) >= 0]
    return body[: min(ends)] if ends else body
