"""LocalTeacher on a tiny random Llama (fast) and on the embedded SmolLM2 (slow); make_teacher dispatch."""

from __future__ import annotations

from pathlib import Path

import pytest

from p2m_lib.embedded import embedded_model
from p2m_lib.errors import P2MError
from p2m_lib.llm import LocalTeacher, OpenAITeacher, Teacher, make_teacher
from p2m_lib.llm.base import cut_at_stop, first_text_line
from p2m_lib.llm.local import MIN_P, _reply_end, ends_in_loop, length_groups
from p2m_lib.types import SamplingParams

PROMPTS = ["Input: the cat sat\nOutput:", "Translate: hello"]


@pytest.fixture(scope="module")
def tiny_teacher(tiny_causal_lm_dir: Path) -> LocalTeacher:
    return LocalTeacher(tiny_causal_lm_dir)


def test_sampling_returns_n_texts_per_prompt_with_token_counts(tiny_teacher: LocalTeacher) -> None:
    completions = tiny_teacher.complete(PROMPTS, SamplingParams(n=3, temperature=1.0, max_tokens=5))

    assert len(completions) == len(PROMPTS)
    for completion in completions:
        assert len(completion.texts) == 3
        assert completion.prompt_tokens > 0
        assert 0 < completion.completion_tokens <= 3 * 5


def test_prompt_tokens_ignore_left_padding(tiny_teacher: LocalTeacher) -> None:
    alone = tiny_teacher.complete(PROMPTS[:1], SamplingParams(temperature=0.0, max_tokens=2))
    batched = tiny_teacher.complete(PROMPTS, SamplingParams(temperature=0.0, max_tokens=2))

    assert batched[0].prompt_tokens == alone[0].prompt_tokens
    assert batched[0].prompt_tokens != batched[1].prompt_tokens


def test_greedy_is_deterministic_and_repeated_n_times(tiny_teacher: LocalTeacher) -> None:
    params = SamplingParams(n=2, temperature=0.0, max_tokens=6)

    first = tiny_teacher.complete(PROMPTS, params)
    second = tiny_teacher.complete(PROMPTS, params)

    assert first == second
    assert all(len(set(c.texts)) == 1 and len(c.texts) == 2 for c in first)


def test_stop_strings_cut_the_text(tiny_teacher: LocalTeacher) -> None:
    greedy = SamplingParams(temperature=0.0, max_tokens=8)
    (full,) = tiny_teacher.complete(PROMPTS[:1], greedy)
    stop = full.texts[0][2:4]  # a string the greedy text is known to contain
    assert stop

    (cut,) = tiny_teacher.complete(PROMPTS[:1], SamplingParams(temperature=0.0, max_tokens=8, stop=(stop,)))

    assert cut.texts[0] == cut_at_stop(full.texts[0], [stop])
    assert stop not in cut.texts[0]


def test_a_reply_ends_at_a_stop_string_in_its_own_text(smollm2_tokenizer_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    ended = _reply_end(tokenizer, ["::"])

    # After a prompt "Output:", a reply ":" would hold "::" only across the prompt's end.
    assert [ended(tokenizer(reply)["input_ids"]) for reply in (":", "a::", "a:")] == [False, True, False]


def test_no_prompts_loads_nothing() -> None:
    teacher = LocalTeacher(Path("/nonexistent"))

    assert teacher.complete([], SamplingParams()) == []
    assert isinstance(teacher, Teacher) and not teacher.capable


def test_missing_folder_fails_on_first_use() -> None:
    with pytest.raises(P2MError, match="does not exist"):
        LocalTeacher(Path("/nonexistent/model")).complete(["x"], SamplingParams())


@pytest.mark.parametrize(
    ("text", "stop", "expected"),
    [("a\nb###c", ["###", "\n"], "a"), ("abc", ["x"], "abc"), ("abc", [], "abc"), ("abc", [""], "abc")],
)
def test_cut_at_stop_keeps_the_text_before_the_earliest_stop(
    text: str, stop: list[str], expected: str
) -> None:
    assert cut_at_stop(text, stop) == expected


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (" negative\nTo determine the sentiment", ("negative", True)),
        ("\n\nOutput: 17\nInput: 3", ("17", True)),
        ("Output:\n 2020-12-04", ("2020-12-04", False)),
        ("Output:\n", ("", False)),
        (" 2020-12-04\r\n", ("2020-12-04", True)),
        ("  \n\n", ("", False)),
    ],
)
def test_the_first_line_of_text_and_whether_it_has_ended(reply: str, expected: tuple[str, bool]) -> None:
    assert first_text_line(reply) == expected


def test_make_teacher_auto_is_the_default_embedded_teacher_without_a_base_url() -> None:
    teacher = make_teacher()

    assert isinstance(teacher, LocalTeacher)
    assert (teacher.name, teacher.capable) == ("Qwen2.5-Coder-1.5B-Instruct (embedded)", True)
    assert make_teacher("local").embedded == teacher.embedded


@pytest.mark.parametrize(
    ("name", "title", "capable"),
    [
        ("qwen-coder-1.5b", "Qwen2.5-Coder-1.5B-Instruct", True),
        ("qwen-coder-0.5b", "Qwen2.5-Coder-0.5B-Instruct", False),
        ("smollm2-135m", "SmolLM2-135M-Instruct", False),
    ],
)
def test_make_teacher_takes_an_embedded_model_by_name(name: str, title: str, capable: bool) -> None:
    teacher = make_teacher(name)

    assert isinstance(teacher, LocalTeacher) and not teacher.chat and not teacher.reranks
    assert (teacher.embedded.name, teacher.name, teacher.capable) == (name, f"{title} (embedded)", capable)


def test_make_teacher_auto_uses_the_endpoint_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P2M_LLM_BASE_URL", "http://teacher:8000/v1/")
    monkeypatch.setenv("P2M_LLM_MODEL", "big-model")

    teacher = make_teacher("auto")

    assert isinstance(teacher, OpenAITeacher)
    assert (teacher.base_url, teacher.name, teacher.capable) == ("http://teacher:8000/v1", "big-model", True)


@pytest.mark.parametrize(
    ("env", "missing"),
    [({}, "P2M_LLM_BASE_URL"), ({"P2M_LLM_BASE_URL": "http://teacher/v1"}, "P2M_LLM_MODEL")],
)
def test_make_teacher_openai_names_the_missing_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], missing: str
) -> None:
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)

    with pytest.raises(P2MError, match=f"{missing} is not set"):
        make_teacher("openai")


def test_make_teacher_takes_a_model_folder_or_gguf_file(tiny_causal_lm_dir: Path) -> None:
    folder_teacher = make_teacher(str(tiny_causal_lm_dir))
    gguf = embedded_model("smollm2-135m").chunk_path(1)
    gguf_folder, gguf_name = gguf.parent, gguf.name
    gguf_teacher = make_teacher(str(gguf_folder / gguf_name))

    assert isinstance(folder_teacher, LocalTeacher) and folder_teacher.name == tiny_causal_lm_dir.name
    assert (gguf_teacher.model_dir, gguf_teacher.gguf_file) == (gguf_folder, gguf_name)


def test_make_teacher_rejects_a_missing_path(tmp_path: Path) -> None:
    expected = (
        "is not 'auto', 'local', 'openai', an embedded model "
        "\\(qwen-coder-1.5b, qwen-coder-0.5b, smollm2-135m\\), a model folder"
    )
    with pytest.raises(P2MError, match=expected):
        make_teacher(str(tmp_path / "missing"))


@pytest.mark.slow
def test_embedded_teacher_continues_a_short_prompt() -> None:
    teacher = LocalTeacher(embedded=embedded_model("smollm2-135m"))

    (completion,) = teacher.complete(
        ["The capital of France is"], SamplingParams(temperature=0.0, max_tokens=4)
    )

    assert completion.texts[0].strip()
    assert completion.prompt_tokens > 0 and completion.completion_tokens > 0


def test_an_instruction_is_asked_as_a_chat_turn(tiny_teacher: LocalTeacher) -> None:
    from dataclasses import replace

    greedy = SamplingParams(temperature=0.0, max_tokens=4)
    (asked,) = tiny_teacher.complete(["List three colours."], replace(greedy, instruction=True))
    turn = [{"role": "user", "content": "List three colours."}]
    template = tiny_teacher._tokenizer.apply_chat_template(turn, tokenize=False, add_generation_prompt=True)
    (continued,) = tiny_teacher.complete([template], greedy)
    (raw,) = tiny_teacher.complete(["List three colours."], greedy)

    assert template.startswith("<|im_start|>") and template.endswith("<|im_start|>assistant\n")
    assert asked == continued
    assert asked.prompt_tokens > raw.prompt_tokens


@pytest.mark.slow
def test_the_embedded_teacher_splits_a_prompt_into_json() -> None:
    from p2m_lib.parse import parse_with_llm, read_prompt
    from p2m_lib.parse.rules import parse_rules

    prompt = read_prompt(Path(__file__).parents[2] / "examples" / "date_normalization" / "prompt.txt")

    spec = parse_with_llm(prompt, LocalTeacher(), max_attempts=1)

    rules = parse_rules(prompt)
    assert spec.instruction == rules.instruction
    assert spec.examples == rules.examples


def test_batched_greedy_answers_equal_unbatched_ones(tiny_teacher: LocalTeacher) -> None:
    prompts = ["Input: a\nOutput:", "Input: the longest of these prompts by far\nOutput:", "x", "Input: b c"]
    params = SamplingParams(temperature=0.0, max_tokens=6, stop=("\n\n",))

    batched = tiny_teacher.complete(prompts, params)
    alone = [tiny_teacher.complete([prompt], params)[0] for prompt in prompts]

    assert [c.texts for c in batched] == [c.texts for c in alone]


def test_a_reply_leaves_the_batch_as_soon_as_it_has_ended(tiny_teacher: LocalTeacher) -> None:
    # The tiny model continues the first prompt " c c c ..." and the second "::::...".
    prompts = ["Input: b c", "Input: a\nOutput:"]
    params = SamplingParams(temperature=0.0, max_tokens=8, stop=(" c c",))
    alone = [tiny_teacher.complete([prompt], params)[0] for prompt in prompts]
    lengths = [c.completion_tokens for c in alone]
    assert lengths[0] < lengths[1]  # the stop string ends the first reply early, not the second
    reads: list[tuple[int, int]] = []
    hook = tiny_teacher._model.register_forward_pre_hook(
        lambda module, args, kwargs: reads.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    try:
        batched = tiny_teacher.complete(prompts, params)
    finally:
        hook.remove()

    assert [c.texts for c in batched] == [c.texts for c in alone]
    # One token a step for both rows until the first reply ends, then for the second alone.
    assert reads[-lengths[1] :] == [(2, 1)] * lengths[0] + [(1, 1)] * (lengths[1] - lengths[0])


def test_a_reply_ends_at_any_end_of_sequence_token_of_the_model(
    tiny_causal_lm_dir: Path, tmp_path: Path
) -> None:
    import json
    import shutil

    from transformers import AutoTokenizer

    # The tiny model continues "Input: b c" with " c c c ...": made an end of sequence (a model's
    # generation config may list several), " c" ends that reply at once, and only that one.
    folder = shutil.copytree(tiny_causal_lm_dir, tmp_path / "model")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    [c_token] = tokenizer(" c")["input_ids"]
    config_file = folder / "generation_config.json"
    config = json.loads(config_file.read_text())
    config["eos_token_id"] = [tokenizer.eos_token_id, c_token]
    config_file.write_text(json.dumps(config))
    teacher = LocalTeacher(folder)

    stopped, running = teacher.complete(
        ["Input: b c", "Input: a\nOutput:"], SamplingParams(temperature=0.0, max_tokens=4)
    )

    assert (stopped.texts, stopped.completion_tokens) == (("",), 0)
    assert (running.texts, running.completion_tokens) == (("::::",), 4)


def test_the_stop_check_decodes_only_the_tail_of_a_reply(smollm2_tokenizer_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    decoded: list[int] = []
    original = tokenizer.decode

    def counting_decode(tokens, **kwargs):
        decoded.append(len(tokens))
        return original(tokens, **kwargs)

    tokenizer.decode = counting_decode
    ended = _reply_end(tokenizer, ["\n\n"])
    one_word = tokenizer(" word")["input_ids"]

    results = [ended(one_word * 12), ended(one_word * 11 + tokenizer("\n\n")["input_ids"])]

    assert results == [False, True]
    # The last three tokens of each: never the whole reply.
    assert decoded == [3, 3]


def test_a_reply_wanted_for_its_first_line_ends_with_that_line(smollm2_tokenizer_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    ended = _reply_end(tokenizer, ["\n\n"], first_line=True)
    without = _reply_end(tokenizer, ["\n\n"])
    replies = [
        " positive\nTo classify the sentiment",  # the label, then an explanation: ended
        "\n positive",  # the answer on a new line, still being written
        " Output:\n",  # a repeated label alone is no answer yet
        " positive",
    ]
    tokens = [tokenizer(reply)["input_ids"] for reply in replies]

    assert [ended(reply) for reply in tokens] == [True, False, False, False]
    assert [without(reply) for reply in tokens] == [False, False, False, False]


@pytest.mark.parametrize(
    ("tokens", "loops"),
    [
        ([7] * 16, True),
        ([1, 2, 3] + [4, 5] * 8, True),
        (list(range(12)) * 4, True),
        ([1, 2, 3, 4] * 4, True),
        ([7] * 15, False),
        ([4, 5] * 7 + [4], False),
        (list(range(13)) * 4, False),
        ([1, 2, 3, 4, 5, 6], False),
    ],
)
def test_a_sequence_ends_in_a_loop_when_a_few_tokens_repeat_to_its_end(
    tokens: list[int], loops: bool
) -> None:
    assert ends_in_loop(tokens) is loops


def test_a_reply_stuck_in_a_loop_ends(smollm2_tokenizer_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    mention = tokenizer(" @user")["input_ids"]
    words = tokenizer(" the cat sat on the mat and then it sat on the hat")["input_ids"]
    ended = _reply_end(tokenizer, [])

    assert [ended(mention * 8), ended((words * 3)[: len(mention) * 8])] == [True, False]


def test_samples_share_one_prefill_and_match_plain_decoding(tiny_teacher: LocalTeacher) -> None:
    # At a vanishing temperature sampling is greedy: every sample must be the greedy text, which
    # shows that the shared, repeated cache continues each prompt exactly where it ends.
    near_greedy = SamplingParams(n=3, temperature=1e-6, max_tokens=6)
    greedy = SamplingParams(n=1, temperature=0.0, max_tokens=6)
    prompts = ["Input: a\nOutput:", "Input: the longest of these prompts by far\nOutput:"]

    sampled = tiny_teacher.complete(prompts, near_greedy)
    expected = tiny_teacher.complete(prompts, greedy)

    assert [c.texts for c in sampled] == [c.texts * 3 for c in expected]
    assert [c.prompt_tokens for c in sampled] == [c.prompt_tokens for c in expected]


def test_a_shared_beginning_is_read_once_and_each_prompt_answered_as_if_alone(
    tiny_teacher: LocalTeacher,
) -> None:
    head = (
        "Classify the sentiment of the movie review sentence as positive or negative.\n\n"
        "Input: a gem of a movie .\nOutput: positive\n\n"
        "Input: a dull , dumb horror film .\nOutput: negative\n\n"
    )
    prompts = [
        f"{head}Input: {text}\nOutput:"
        for text in ("fine", "the longest of these inputs by far , and more", "ok .")
    ]
    greedy = SamplingParams(temperature=0.0, max_tokens=6, stop=("\n\n",))
    near_greedy = SamplingParams(n=3, temperature=1e-6, max_tokens=6, stop=("\n\n",))
    alone = [tiny_teacher.complete([prompt], greedy)[0] for prompt in prompts]
    reads: list[tuple[int, int]] = []
    hook = tiny_teacher._model.register_forward_pre_hook(
        lambda module, args, kwargs: reads.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    try:
        batched = tiny_teacher.complete(prompts, greedy)
        sampled = tiny_teacher.complete(prompts, near_greedy)
    finally:
        hook.remove()

    assert [c.texts for c in batched] == [c.texts for c in alone]
    assert [c.texts for c in sampled] == [c.texts * 3 for c in alone]
    assert [c.prompt_tokens for c in batched] == [c.prompt_tokens for c in alone]
    # The shared beginning is read by one row, then each prompt's own tokens but the last, the two
    # short prompts together and the long one alone, so that no short one is padded to its length.
    shared = reads[0][1]
    assert reads[0][0] == 1 and shared >= 30
    own = [c.prompt_tokens - shared for c in alone]
    assert reads[1:3] == [(2, max(own[0], own[2]) - 1), (1, own[1] - 1)]


def test_a_wave_reads_only_what_follows_a_beginning_read_for_an_earlier_one(tiny_causal_lm_dir: Path) -> None:
    teacher = LocalTeacher(tiny_causal_lm_dir)
    head = (
        "Classify the sentiment of the movie review sentence as positive or negative.\n\n"
        "Input: a gem of a movie .\nOutput: positive\n\n"
    )
    waves = [
        [f"{head}Input: {text}\nOutput:" for text in ("fine", "ok .")],
        [f"{head}Input: {text}\nOutput:" for text in ("dull", "a mess")],
        # These share two words more: only those are read on top of the kept beginning.
        [f"{head}Input: the plot {text}\nOutput:" for text in ("works", "drags")],
    ]
    greedy = SamplingParams(temperature=0.0, max_tokens=4)
    teacher.load()
    beginning = len(teacher._tokenizer(head + "Input:")["input_ids"])
    reads: list[tuple[int, int, int]] = []
    hook = teacher._model.register_forward_pre_hook(
        lambda module, args, kwargs: reads.append(
            (*kwargs["input_ids"].shape, int(kwargs["position_ids"][0, 0]))
        ),
        with_kwargs=True,
    )
    try:
        answers = []
        for wave in waves:
            reads.append(("wave",))
            answers.append(teacher.complete(wave, greedy))
    finally:
        hook.remove()
    alone = [[teacher.complete([prompt], greedy)[0] for prompt in wave] for wave in waves]

    assert [[c.texts for c in wave] for wave in answers] == [[c.texts for c in wave] for wave in alone]
    starts = [i for i, read in enumerate(reads) if read == ("wave",)]
    first_reads = [reads[i + 1] for i in starts]
    second_wave = reads[starts[1] + 1 : starts[2]]
    # The first wave reads the beginning as one row from position 0; the second reads none of it
    # (nothing from position 0); the third only the words after it.
    assert first_reads[0] == (1, beginning, 0)
    assert second_wave and all(position > 0 for _, _, position in second_wave)
    extra = len(teacher._tokenizer(head + "Input: the plot")["input_ids"]) - beginning
    assert first_reads[2] == (1, extra, beginning)


def test_waves_of_one_prompt_read_it_once_for_all_of_them(tiny_causal_lm_dir: Path) -> None:
    # Requests for inputs that show the user's demonstrations alone are all the same prompt.
    teacher = LocalTeacher(tiny_causal_lm_dir)
    prompt = "Write a movie review sentence.\n\nInput: a gem of a movie .\n\nInput:"
    near_greedy = SamplingParams(n=2, temperature=1e-6, max_tokens=4)
    teacher.load()
    length = len(teacher._tokenizer(prompt)["input_ids"])
    reads: list[tuple[int, ...]] = []
    hook = teacher._model.register_forward_pre_hook(
        lambda module, args, kwargs: reads.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    try:
        waves = []
        for _ in range(2):
            reads.append(("wave",))
            waves.append(teacher.complete([prompt] * 3, near_greedy))
    finally:
        hook.remove()
    alone = teacher.complete([prompt], SamplingParams(temperature=0.0, max_tokens=4))[0]

    assert [[c.texts for c in wave] for wave in waves] == [[alone.texts * 2] * 3] * 2
    second = reads.index(("wave",), 1)
    # The first wave reads the prompt but its last token once, as one row; after that, both waves
    # only decode, one token a step for all six samples (the first step reads the last token).
    assert reads[1] == (1, length - 1)
    assert set(reads[2:second]) == {(6, 1)}
    assert set(reads[second + 1 :]) == {(6, 1)}


def test_prompts_that_differ_in_their_last_token_alone_are_answered_as_if_alone(
    tiny_teacher: LocalTeacher,
) -> None:
    head = "Count on from the number, one word a line, as in the examples below.\n\n1 two\n3 four\n"
    prompts = [f"{head}{digit}" for digit in "57"]
    near_greedy = SamplingParams(n=2, temperature=1e-6, max_tokens=4)
    alone = [
        tiny_teacher.complete([prompt], SamplingParams(temperature=0.0, max_tokens=4))[0]
        for prompt in prompts
    ]

    sampled = tiny_teacher.complete(prompts, near_greedy)

    assert [c.texts for c in sampled] == [c.texts * 2 for c in alone]


@pytest.mark.parametrize(
    "endings",
    [
        # Of similar length, the longer first: read as one group.
        ["apple pear plum fig:", "dog cat cow:"],
        # The same two, then a long one, read alone.
        [
            "apple pear plum fig:",
            "dog cat cow:",
            "the longest of these prompts by far, with many more words:",
        ],
    ],
)
def test_each_prompt_is_read_into_its_own_row_of_the_cache(
    tiny_teacher: LocalTeacher, endings: list[str]
) -> None:
    import torch

    head = "Continue the list of words below, one word a line, as in the examples.\n\n"
    tiny_teacher.load()
    rows = tiny_teacher._tokenizer([head + ending for ending in endings])["input_ids"]

    with torch.inference_mode():
        batch, cache = tiny_teacher._prefill(rows, 1)
        for i, row in enumerate(rows):
            ids = torch.tensor([row[:-1]])
            alone = tiny_teacher._read(ids, torch.ones_like(ids), torch.arange(len(row) - 1)[None], None)
            real = batch["attention_mask"][i, :-1].bool()
            for layer, alone_layer in zip(cache.layers, alone.layers, strict=True):
                assert torch.allclose(layer.keys[i][:, real], alone_layer.keys[0], atol=1e-5)
                assert torch.allclose(layer.values[i][:, real], alone_layer.values[0], atol=1e-5)


@pytest.mark.parametrize(
    ("lengths", "groups"),
    [
        ([5, 40, 6, 7, 38], [[0, 2, 3], [1, 4]]),
        ([9, 8], [[0, 1]]),
        ([10, 10, 11], [[0, 1, 2]]),
        ([3], [[0]]),
        ([1, 9], [[0], [1]]),
    ],
)
def test_prompts_are_read_in_groups_of_similar_length(lengths: list[int], groups: list[list[int]]) -> None:
    assert length_groups(lengths) == groups


@pytest.fixture(scope="module")
def peaked_teacher(tiny_causal_lm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> LocalTeacher:
    """The tiny model with its (tied) embeddings scaled up, so that its next-token logits spread
    apart like a trained model's (about 80 tokens within a tenth of the likeliest at temperature
    1.7) instead of lying nearly flat."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_causal_lm_dir)
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(5)
    out = tmp_path_factory.mktemp("peaked-llama")
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_causal_lm_dir).save_pretrained(out)
    return LocalTeacher(out)


def test_sampling_leaves_out_tokens_far_less_likely_than_the_likeliest(peaked_teacher: LocalTeacher) -> None:
    import torch

    prompt, temperature = "Input: the cat sat\nOutput:", 1.7
    peaked_teacher.load()
    tokenizer = peaked_teacher._tokenizer
    with torch.inference_mode():
        logits = peaked_teacher._model(**tokenizer([prompt], return_tensors="pt")).logits[0, -1]
    probabilities = torch.softmax(logits.float() / temperature, dim=-1)
    # A tenth of slack on the threshold: generate's logits may round differently from these.
    allowed = probabilities >= 0.9 * MIN_P * probabilities.max()
    allowed_texts = {tokenizer.decode([token]) for token in allowed.nonzero().flatten().tolist()}
    left_out = [
        token
        for token in (~allowed).nonzero().flatten().tolist()
        if tokenizer.decode([token]) not in allowed_texts
    ]
    # Plain sampling would draw a left-out token nearly every time: 64 draws cannot all miss.
    assert probabilities[left_out].sum() > 0.5

    (completion,) = peaked_teacher.complete(
        [prompt], SamplingParams(n=64, temperature=temperature, max_tokens=1)
    )

    assert set(completion.texts) <= allowed_texts


@pytest.mark.slow
def test_the_default_embedded_teacher_answers_in_the_users_layout() -> None:
    from p2m_lib.evaluate.baseline import teacher_predictions
    from p2m_lib.parse import parse_prompt

    teacher = make_teacher("qwen-coder-1.5b")
    try:
        teacher.load()
    except P2MError as error:  # only where its packages are not installed (make install adds them)
        pytest.skip(str(error))
    task = parse_prompt(
        'Classify the sentiment of the review.\n\nReview: "Loved every minute" -> positive\n'
        'Review: "A waste of money" -> negative\n'
    )

    answers = teacher_predictions(teacher, task, ["Superb, I would buy it again", "It broke on day one"], 8)

    assert answers == ["positive", "negative"]


@pytest.mark.parametrize(
    ("bf16", "int8_from", "quantized"),
    [(False, 1, True), (False, 10**12, False), (True, 1, False)],
    ids=["float32-and-large-enough", "float32-but-small", "native-bf16"],
)
def test_without_native_bf16_a_large_models_linear_layers_compute_in_int8(
    tiny_causal_lm_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    bf16: bool,
    int8_from: int,
    quantized: bool,
) -> None:
    import torch
    from torch.ao.nn.quantized.dynamic import Linear as Int8Linear

    from p2m_lib.llm.int8 import OutlierSplitLinear

    monkeypatch.setattr("p2m_lib.hardware.bf16_supported", lambda: bf16)
    monkeypatch.setattr("p2m_lib.llm.local.INT8_FROM_PARAMETERS", int8_from)
    from transformers import AutoModelForCausalLM

    teacher = LocalTeacher(tiny_causal_lm_dir)

    teacher.load()

    # The footprint counts every weight, the int8 layers' packed ones too.
    parameters = AutoModelForCausalLM.from_pretrained(tiny_causal_lm_dir).num_parameters()
    assert teacher.footprint()["parameters"] == parameters
    layers = dict(teacher._model.named_modules())
    assert isinstance(layers["model.layers.0.self_attn.q_proj"], Int8Linear) is quantized
    assert isinstance(layers["model.layers.1.mlp.up_proj"], Int8Linear) is quantized
    down_projection = type(layers["model.layers.1.mlp.down_proj"])
    assert down_projection is (OutlierSplitLinear if quantized else torch.nn.Linear)
    said = " ".join(capsys.readouterr().err.split())  # rich wraps the line and adds its source
    assert ("no native bfloat16 on this machine" in said) is quantized
    assert ("linear layers compute in int8" in said) is quantized
    (completion,) = teacher.complete(PROMPTS[:1], SamplingParams(temperature=0.0, max_tokens=4))
    assert len(completion.texts) == 1
