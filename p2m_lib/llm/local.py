"""A teacher run in-process with transformers: an embedded model or any causal-LM folder or GGUF file."""

from __future__ import annotations

import copy
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2m_lib.embedded import DEFAULT_TEACHER, EmbeddedModel, embedded_model, folder_bytes, model_folder
from p2m_lib.errors import P2MError
from p2m_lib.llm.base import cut_at_stop, first_text_line, repeats_a_unit
from p2m_lib.train.encoding import end_of_sequence_ids
from p2m_lib.types import Completion, SamplingParams

if TYPE_CHECKING:
    import torch

# Sequences per wave (one `complete` call) that kept both cores of the reference machine busy
# without running out of cache: 10 prompts of 3 samples each answered at 1.2 s a prompt, 5 at 1.5 s
# (docs/BENCHMARKS.md).
WAVE_SEQUENCES = 32
# A shared beginning shorter than this is read with each prompt: not worth a separate pass.
MIN_SHARED_TOKENS = 16
# The caches of this many beginnings shared by a wave's prompts are kept for later waves (`_beginning`).
BEGINNINGS_KEPT = 4
# Prompts' own tokens are read in groups of similar length, each padded by at most this share of
# the tokens it holds (`length_groups`).
GROUP_PADDING = 0.25
# Sampling keeps only the tokens at least this likely relative to the likeliest (min-p, applied
# after the temperature). At the annealed temperatures up to 1.7 the 1.5B teacher otherwise wrote
# non-words and rambled to its token limit, which held up whole waves (docs/BENCHMARKS.md, Quality).
MIN_P = 0.1
# Without native bfloat16 (a CPU with AVX2 alone, such as a 2-core AMD EPYC of this project's) a
# model this large is computed in int8 (`p2m_lib.llm.int8`): float32 gave the 1.5B teacher 9.7
# tokens/s on 32 sequences, int8 with the down projection still in float32 30.5, the same scores on
# two test sets; the split down projection since shortened a labelling wave from 23.5 s to 15 to
# 21 s at the same scores (docs/BENCHMARKS.md). Smaller
# models stay in float32: the same-size baseline must be the student as it is.
INT8_FROM_PARAMETERS = 1_000_000_000
# A sequence that ends in the same unit of at most LOOP_UNIT_TOKENS tokens, LOOP_COPIES times or
# more and LOOP_TOKENS tokens in all, is ended: it would repeat the unit to its token limit, and
# the wave would last as long as it. The 1.5B teacher wrote German tweets of
# "@user" forty times over, and of three hashtags again and again (docs/BENCHMARKS.md).
LOOP_UNIT_TOKENS = 12
LOOP_COPIES = 4
LOOP_TOKENS = 16


class LocalTeacher:
    """Raw text completion with a model loaded on first use; instructions as chat turns.

    Few-shot prompts are text that the model continues: the small embedded models do not follow
    chat instructions (DESIGN.md), and the larger ones label more accurately when they continue
    the user's own few-shot layout than when it comes wrapped in a chat turn (docs/BENCHMARKS.md,
    Teacher). A request marked `instruction` (JSON parse, rerank, HyDE, column choice) is put in
    the model's chat template when it has one: continued as raw text, an instruction-tuned model
    writes more instructions instead of answering, until its token limit.

    Weights are computed in bfloat16 where the hardware does it natively (AMX or AVX512-BF16:
    several times faster for batched decoding), else in float32, the linear layers of a model of
    a billion parameters or more in int8 (`INT8_FROM_PARAMETERS`).

    Attributes:
        name: The embedded model's title with "(embedded)", else the GGUF file's or folder's name.
        capable: Whether callers may ask for JSON and judgements: the embedded model's own flag;
            False for a folder or file, whose abilities p2m does not know.
        chat: Always False: few-shot prompts are continued, not answered as chat messages.
        wave_sequences: How many sequences one `complete` call should hold to keep the cores busy.
        reranks: Always False: asked to reorder retrieved datasets, the embedded teacher answered
            "none" or the order it was given (docs/BENCHMARKS.md, Retrieval).
    """

    chat = False
    reranks = False
    wave_sequences = WAVE_SEQUENCES

    def __init__(
        self,
        model_dir: Path | None = None,
        gguf_file: str | None = None,
        embedded: EmbeddedModel | None = None,
    ) -> None:
        """Choose the model; nothing is loaded until `complete`.

        Args:
            model_dir: A Hugging Face causal-LM folder (or the folder holding `gguf_file`).
            gguf_file: The GGUF file's name inside `model_dir`, when the model is one.
            embedded: An embedded model, assembled and converted on first use; with neither this
                nor `model_dir`, the default embedded teacher.
        """
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.gguf_file = gguf_file
        if self.model_dir is None and embedded is None:
            embedded = embedded_model(DEFAULT_TEACHER)
        self.embedded = embedded
        if embedded is not None:
            self.name = f"{embedded.title} (embedded)"
            self.capable = embedded.capable
        else:
            self.name = gguf_file or self.model_dir.name
            self.capable = False
        self._model: Any = None
        self._tokenizer: Any = None
        self._end_tokens: set[int] = set()
        self._beginnings: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._parameters = 0

    def __repr__(self) -> str:
        if self.embedded is not None:
            return f"LocalTeacher(embedded={self.embedded.name!r})"
        return f"LocalTeacher(model_dir={self.model_dir!r}, gguf_file={self.gguf_file!r})"

    def complete(self, prompts: Sequence[str], params: SamplingParams) -> list[Completion]:
        """Continue every prompt `params.n` times in one batch; see `Teacher.complete`.

        Sampling happens when `params.temperature` > 0, among the tokens that pass `MIN_P`; at 0
        decoding is greedy and the one greedy text is repeated `params.n` times.
        """
        if not prompts:
            return []
        import torch

        self.load()
        if params.instruction:
            prompts = [self._chat_turn(prompt) for prompt in prompts]
        rows = self._tokenizer(list(prompts))["input_ids"]
        # Greedy decoding would write the same text n times: it runs once, `_completion` repeats it.
        samples = params.n if params.temperature > 0 else 1
        with torch.inference_mode():
            batch, cache = self._prefill(rows, samples)
            replies = self._decode(batch, cache, params)
        return [
            self._completion(replies[i * samples : (i + 1) * samples], len(rows[i]), params)
            for i in range(len(prompts))
        ]

    def _chat_turn(self, instruction: str) -> str:
        """`instruction` as a user's turn and the opening of the model's answer, in its chat template;
        unchanged for a model without one."""
        if not self._tokenizer.chat_template:
            return instruction
        turn = [{"role": "user", "content": instruction}]
        return self._tokenizer.apply_chat_template(turn, tokenize=False, add_generation_prompt=True)

    def _prefill(self, rows: list[list[int]], n: int) -> tuple[dict[str, torch.Tensor], Any]:
        """The batch of `rows`, each repeated for its n samples, with all but its last column read.

        Reading (prefill) is most of the work for short answers after a few-shot prompt, and
        transformers' `generate` reads every prompt in full, n times over for n samples. Here the
        tokens that all prompts begin with (the instruction and the user's demonstrations, when
        the teacher labels a wave of inputs) are read once (or not at all when an earlier wave
        began with them: `_beginning`), the rest of each prompt but its last token once per
        prompt, and the cache is repeated for the n samples; `_decode` then reads only the last
        token of each. Each row is the shared beginning, padding, then the prompt's own tokens,
        positions counting real tokens only, so every prompt is continued as if alone. The
        prompts' own tokens are read in groups of similar length (`length_groups`), each padded to
        its own longest: read together, one long input among short ones made every row as long as
        it (an SST-2 labelling wave: 42 s, 13 s without that one input).

        Returns:
            The batch (input ids, attention mask) and the cache of all but its last column.
        """
        import torch

        shared = _shared_prefix_length(rows) if len(rows) > 1 else 0
        shared = shared if shared >= MIN_SHARED_TOKENS else 0
        width = max(len(row) for row in rows) - shared
        pad = self._tokenizer.pad_token_id
        ids = torch.tensor(
            [row[:shared] + [pad] * (width - len(row) + shared) + row[shared:] for row in rows]
        )
        mask = torch.tensor(
            [[1] * shared + [0] * (width - len(row) + shared) + [1] * (len(row) - shared) for row in rows]
        )
        batch = {"input_ids": ids, "attention_mask": mask}
        if ids.shape[1] < 2:
            return _repeated(batch, _empty_cache(), n)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        prefix = self._beginning(rows[0][:shared]) if shared else None
        own = [len(row) - shared for row in rows]
        columns = ids.shape[1] - 1  # the cache holds all but the last column
        caches = []
        for group in length_groups(own):
            cache = copy.deepcopy(prefix) if prefix is not None else _empty_cache()
            cache.batch_repeat_interleave(len(group))
            # A group's own tokens start where its longest prompt's do. It reads one column at
            # least (padding, for prompts of one token of their own), so every cache has its rows'
            # own part; only when no prompt has more than one is there none to read.
            start = min(ids.shape[1] - max(own[i] for i in group), columns - 1)
            if start >= shared:
                index = torch.tensor(group)
                own_mask = torch.cat([mask[index, :shared], mask[index, start:-1]], dim=1)
                cache = self._read(ids[index, start:-1], own_mask, positions[index, start:-1], cache)
            else:
                start = columns
            caches.append((group, start, cache))
        return _repeated(batch, _merged(caches, len(rows), shared, columns), n)

    def _beginning(self, tokens: list[int]) -> Any:
        """The cache of `tokens` read alone, as one row from position 0; callers copy it.

        Every labelling wave begins with the same instruction and demonstrations, 100 to 250
        tokens that took 2 to 4 s to read on 2 cores, a fifth of such a wave. The caches of the
        last BEGINNINGS_KEPT beginnings are kept (input waves begin with the instruction alone),
        and a wave reads only what follows the longest kept one its prompts begin with.
        """
        import torch

        start = max((len(kept) for kept in self._beginnings if tuple(tokens[: len(kept)]) == kept), default=0)
        key = tuple(tokens)
        if start == len(tokens):
            self._beginnings.move_to_end(key)
            return self._beginnings[key]
        cache = copy.deepcopy(self._beginnings[key[:start]]) if start else _empty_cache()
        ids = torch.tensor([tokens[start:]])
        positions = torch.arange(start, len(tokens))[None]
        cache = self._read(ids, torch.ones(1, len(tokens), dtype=torch.long), positions, cache)
        self._beginnings[key] = cache
        if len(self._beginnings) > BEGINNINGS_KEPT:
            self._beginnings.popitem(last=False)
        return cache

    def _decode(self, batch: dict[str, torch.Tensor], cache: Any, params: SamplingParams) -> list[list[int]]:
        """Each row's reply tokens, one token a step for the rows still running, from the batch
        and cache that `_prefill` returns.

        A row leaves the batch, and its cache, as soon as its reply has ended. transformers'
        `generate` computes every row until the last has ended: in waves of 8 SST-2 prompts x 4
        sampled inputs, 64% of the positions it computed came after a row's input had ended (the
        longest ran to 40 to 60 tokens, most ended after 12 to 25). A step of the int8 teacher
        costs in proportion to its rows on 2 cores (0.76 s at 32, 0.38 s at 16), so the rows
        left are what a step costs: two such waves took 75 and 68 s, now 37 and 56 s
        (docs/BENCHMARKS.md, Teacher).
        """
        import torch

        reply_ended = _reply_end(self._tokenizer, params.stop, params.first_line)
        mask = batch["attention_mask"]
        positions = mask.sum(dim=1, keepdim=True) - 1
        step_ids = batch["input_ids"][:, -1:]
        running = list(range(mask.shape[0]))
        replies: list[list[int]] = [[] for _ in running]
        for _ in range(params.max_tokens):
            output = self._model(
                input_ids=step_ids, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True
            )
            tokens = _next_tokens(output.logits[:, -1].float(), params.temperature)
            still = []
            for index, (row, token) in enumerate(zip(running, tokens.tolist(), strict=True)):
                if token not in self._end_tokens:
                    replies[row].append(token)
                    if not reply_ended(replies[row]):
                        still.append(index)
            if not still:
                break
            if len(still) < len(running):
                keep = torch.tensor(still)
                cache.batch_select_indices(keep)
                mask, positions, tokens = mask[keep], positions[keep], tokens[keep]
                running = [running[i] for i in still]
            mask = torch.cat([mask, mask.new_ones(len(running), 1)], dim=1)
            positions = positions + 1
            step_ids = tokens[:, None]
        return replies

    def _read(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any) -> Any:
        """The cache after reading `ids` on top of `cache`; `mask` covers the cache's tokens too."""
        # Only the cache is wanted: the vocabulary's logits for one position, not for every one.
        output = self._model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        return output.cache

    def _completion(self, replies: list[list[int]], prompt_tokens: int, params: SamplingParams) -> Completion:
        texts = [
            cut_at_stop(self._tokenizer.decode(reply, skip_special_tokens=True), params.stop)
            for reply in replies
        ]
        # Greedy decoding ran once: its text stands for all n samples, its tokens count once.
        repeats = 1 if len(texts) == params.n else params.n
        return Completion(
            texts=tuple(texts * repeats),
            prompt_tokens=prompt_tokens,
            completion_tokens=sum(len(reply) for reply in replies),
        )

    def load(self) -> None:
        """Load the model now; `complete` loads it on first use otherwise."""
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from p2m_lib.hardware import bf16_supported
        from p2m_lib.llm.int8 import quantize_linear_layers
        from p2m_lib.progress import console, quiet_transformers

        folder, gguf_file = self._source(console.log)
        extra: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False, **extra)
            tokenizer.padding_side = "left"
            if tokenizer.pad_token_id is None:
                tokenizer.pad_token = tokenizer.eos_token
            # A GGUF file loaded as is keeps packed weights that compute in float32 anyway.
            dtype = torch.bfloat16 if bf16_supported() and not gguf_file else torch.float32
            model = AutoModelForCausalLM.from_pretrained(
                folder, dtype=dtype, trust_remote_code=False, **extra
            )
        parameters = model.num_parameters()
        if dtype == torch.float32 and parameters >= INT8_FROM_PARAMETERS:
            console.log(
                f"{self.name}: no native bfloat16 on this machine (AMX, AVX512-BF16), so its linear "
                "layers compute in int8; expect generation several times slower than with them"
            )
            quantize_linear_layers(model)
        _use_physical_cores(torch)
        # Counted before int8 layers would hide their packed weights from `parameters()`.
        self._parameters = parameters
        self._tokenizer = tokenizer
        # A reply ends at an end-of-sequence token, the model's own or its tokenizer's, or at
        # padding (Qwen's base end of text, which it may write when continuing raw text).
        self._end_tokens = end_of_sequence_ids(model, tokenizer) | {tokenizer.pad_token_id}
        self._model = model.eval()

    def footprint(self) -> dict[str, int]:
        """The model's parameters and its size on disk (the folder, or the GGUF file); loads it."""
        self.load()
        folder, gguf_file = self._source(print)
        disk = (folder / gguf_file).stat().st_size if gguf_file else folder_bytes(folder)
        return {"parameters": self._parameters, "disk_bytes": disk}

    def _source(self, log: Any) -> tuple[Path, str | None]:
        """The folder to load from and the GGUF file in it, if any."""
        if self.embedded is not None:
            return model_folder(self.embedded, log), None
        target = self.model_dir / self.gguf_file if self.gguf_file else self.model_dir
        if not target.exists():
            raise P2MError(f"the local teacher model {target} does not exist")
        return self.model_dir, self.gguf_file


def _shared_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """How many leading tokens all rows have in common, leaving each row at least one of its own."""
    shortest = min(len(row) for row in rows) - 1
    length = 0
    while length < shortest and all(row[length] == rows[0][length] for row in rows):
        length += 1
    return length


def length_groups(lengths: Sequence[int]) -> list[list[int]]:
    """Indices of `lengths` in groups to read together, taken in order of length, each group
    padded to its longest with at most GROUP_PADDING more tokens than it holds (a group of one
    needs none); within a group, indices ascend."""
    groups: list[list[int]] = []
    for index in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        group = groups[-1] if groups else []
        tokens = sum(lengths[i] for i in group) + lengths[index]
        if group and (len(group) + 1) * lengths[index] <= (1 + GROUP_PADDING) * tokens:
            group.append(index)
        else:
            groups.append([index])
    return [sorted(group) for group in groups]


def _empty_cache() -> Any:
    """A cache of plain layers, which `_merged` knows how to put together."""
    from transformers import DynamicCache

    return DynamicCache()


def _merged(caches: list[tuple[list[int], int, Any]], rows: int, shared: int, columns: int) -> Any:
    """One cache of `rows` rows and `columns` columns from the caches of groups of rows, each
    (its rows, the column its own tokens start at, its cache): a group's cache holds the shared
    columns, then those from its start on; the columns it skipped are padding, masked out."""
    import torch

    _, start, merged = caches[0]
    if len(caches) == 1 and start == shared:
        return merged
    for layer_index, layer in enumerate(merged.layers):
        for name in ("keys", "values"):
            heads, _, size = getattr(layer, name).shape[1:]
            full = getattr(layer, name).new_zeros(rows, heads, columns, size)
            for group, start, cache in caches:
                part = getattr(cache.layers[layer_index], name)
                index = torch.tensor(group)
                full[index, :, :shared] = part[:, :, :shared]
                full[index, :, start:] = part[:, :, shared:]
            setattr(layer, name, full)
    return merged


def _use_physical_cores(torch: Any) -> None:
    """One torch thread per core this process may use, or P2M_THREADS of them.

    torch counts the machine's cores, which can exceed those a container or `taskset` grants.
    """
    wanted = os.environ.get("P2M_THREADS")
    threads = int(wanted) if wanted else len(os.sched_getaffinity(0))
    torch.set_num_threads(max(1, threads))


def ends_in_loop(tokens: Sequence[int]) -> bool:
    """Whether `tokens` end in the same few tokens over and over (see LOOP_UNIT_TOKENS)."""
    return repeats_a_unit(tokens, LOOP_UNIT_TOKENS, LOOP_COPIES, LOOP_TOKENS, at_end=True)


def _repeated(batch: dict[str, torch.Tensor], cache: Any, n: int) -> tuple[dict[str, torch.Tensor], Any]:
    """The batch and cache with each row repeated n times in place, for n samples of each prompt."""
    if n > 1:
        cache.batch_repeat_interleave(n)
        batch = {key: value.repeat_interleave(n, dim=0) for key, value in batch.items()}
    return batch, cache


def _next_tokens(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """One token for each row of `logits`: the likeliest at temperature 0, else one sampled among
    the tokens at least MIN_P as likely as the likeliest."""
    import torch

    if temperature == 0:
        return logits.argmax(dim=-1)
    probabilities = torch.softmax(logits / temperature, dim=-1)
    floor = MIN_P * probabilities.max(dim=-1, keepdim=True).values
    return torch.multinomial(probabilities.where(probabilities >= floor, 0.0), 1).flatten()


def _reply_end(tokenizer: Any, stop: Sequence[str], first_line: bool = False) -> Callable[[list[int]], bool]:
    """A check of whether a reply, given its tokens so far, has ended: its text holds a stop
    string, or it loops, or (with `first_line`) its first line of text has ended.

    Only a stop string's length of the reply's last tokens is decoded: a stop string of k
    characters that the newest token completes lies within the last k tokens. Decoding every whole
    sequence at every step cost as much as a small model's forward pass. The text itself is cut in
    `LocalTeacher._completion`. A reply stuck in a loop (`ends_in_loop`) ends too, with the loop's
    first copies in its text for the caller to judge. With `first_line`, the whole reply is decoded
    (the line may have begun anywhere in it; replies wanted for a line are short): the 1.5B teacher
    follows a label with a new line of explanation or code until its token limit in a third of
    SST-2's samples (docs/BENCHMARKS.md).
    """
    window = max((len(s) for s in stop), default=0) + 1
    loop_window = LOOP_UNIT_TOKENS * LOOP_COPIES

    def ended(reply: list[int]) -> bool:
        if stop or first_line:
            text = tokenizer.decode(reply if first_line else reply[-window:], skip_special_tokens=True)
            if any(s in text for s in stop if s) or (first_line and first_text_line(text)[1]):
                return True
        return ends_in_loop(reply[-loop_window:])

    return ended
