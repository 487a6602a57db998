"""A teacher run in-process with transformers: the embedded SmolLM2 GGUF or any causal-LM folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2m_lib.errors import P2MError
from p2m_lib.llm.base import cut_at_stop
from p2m_lib.types import Completion, SamplingParams

if TYPE_CHECKING:
    import torch

EMBEDDED_NAME = "SmolLM2-135M-Instruct (embedded)"


class LocalTeacher:
    """Raw text completion (no chat template) with a model loaded on first use.

    The embedded model is too small to follow chat instructions (DESIGN.md), so prompts are
    completion-style text that the model continues.

    Attributes:
        name: "SmolLM2-135M-Instruct (embedded)" for the default model, else the GGUF file's or
            the folder's name.
        capable: Always False: callers must not rely on this model for JSON or judgement.
    """

    capable = False

    def __init__(self, model_dir: Path | None = None, gguf_file: str | None = None) -> None:
        """Choose the model; nothing is loaded until `complete`.

        Args:
            model_dir: A Hugging Face causal-LM folder (or the folder holding `gguf_file`);
                None for the embedded SmolLM2-135M-Instruct GGUF.
            gguf_file: The GGUF file's name inside `model_dir`, when the model is one.
        """
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.gguf_file = gguf_file
        self.name = EMBEDDED_NAME if model_dir is None else (gguf_file or self.model_dir.name)
        self._model: Any = None
        self._tokenizer: Any = None

    def __repr__(self) -> str:
        return f"LocalTeacher(model_dir={self.model_dir!r}, gguf_file={self.gguf_file!r})"

    def complete(self, prompts: Sequence[str], params: SamplingParams) -> list[Completion]:
        """Continue every prompt `params.n` times in one left-padded batch; see `Teacher.complete`.

        Sampling happens when `params.temperature` > 0; at 0 decoding is greedy and the one
        greedy text is repeated `params.n` times.
        """
        if not prompts:
            return []
        import torch

        self._load()
        batch = self._tokenizer(list(prompts), return_tensors="pt", padding=True)
        with torch.inference_mode():
            prompt_length = batch["input_ids"].shape[1]
            output = self._model.generate(**batch, **self._generate_kwargs(params, prompt_length))
        generated = output[:, prompt_length:]
        per_prompt = generated.shape[0] // len(prompts)
        prompt_lengths = batch["attention_mask"].sum(dim=1).tolist()
        return [
            self._completion(generated[i * per_prompt : (i + 1) * per_prompt], prompt_lengths[i], params)
            for i in range(len(prompts))
        ]

    def _generate_kwargs(self, params: SamplingParams, prompt_length: int) -> dict[str, Any]:
        sampling = params.temperature > 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_tokens,
            "do_sample": sampling,
            # transformers refuses several greedy sequences; `_completion` repeats the one instead.
            "num_return_sequences": params.n if sampling else 1,
            "pad_token_id": self._tokenizer.pad_token_id,
        }
        if sampling:
            kwargs["temperature"] = params.temperature
        if params.stop:
            kwargs["stopping_criteria"] = _stop_criteria(self._tokenizer, params.stop, prompt_length)
        return kwargs

    def _completion(self, sequences: torch.Tensor, prompt_tokens: int, params: SamplingParams) -> Completion:
        rows = sequences.tolist()
        token_counts = [self._count_generated(row) for row in rows]
        texts = [
            cut_at_stop(self._tokenizer.decode(row[:count], skip_special_tokens=True), params.stop)
            for row, count in zip(rows, token_counts, strict=True)
        ]
        # Greedy decoding ran once: its text stands for all n samples, its tokens count once.
        repeats = 1 if len(texts) == params.n else params.n
        return Completion(
            texts=tuple(texts * repeats), prompt_tokens=prompt_tokens, completion_tokens=sum(token_counts)
        )

    def _count_generated(self, sequence: list[int]) -> int:
        """Tokens generated before the first end-of-sequence or padding token."""
        ends = {self._tokenizer.eos_token_id, self._tokenizer.pad_token_id} - {None}
        return next((i for i, token in enumerate(sequence) if token in ends), len(sequence))

    def _load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder, gguf_file = self._source()
        extra = {"gguf_file": gguf_file} if gguf_file else {}
        tokenizer = AutoTokenizer.from_pretrained(folder, **extra)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._tokenizer = tokenizer
        self._model = AutoModelForCausalLM.from_pretrained(folder, **extra).eval()

    def _source(self) -> tuple[Path, str | None]:
        """The folder to load from and the GGUF file in it, if any."""
        if self.model_dir is None:
            from p2m_lib.embedded import smollm2_gguf

            return smollm2_gguf()
        target = self.model_dir / self.gguf_file if self.gguf_file else self.model_dir
        if not target.exists():
            raise P2MError(f"the local teacher model {target} does not exist")
        return self.model_dir, self.gguf_file


def _stop_criteria(tokenizer: Any, stop: Sequence[str], prompt_length: int) -> Any:
    """Criteria that end each sequence once its generated text holds a stop string.

    transformers' own `stop_strings` also match across the end of the prompt (a prompt ending in
    ":" and a stop "::" end generation at a lone ":"), so only the generated tokens are decoded here.
    The text itself is cut in `LocalTeacher._completion`.
    """
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopInGeneratedText(StoppingCriteria):
        def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
            texts = tokenizer.batch_decode(input_ids[:, prompt_length:], skip_special_tokens=True)
            done = [any(s in text for s in stop if s) for text in texts]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([StopInGeneratedText()])
