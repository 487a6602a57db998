import random

import pytest

from p2m_lib.generate import annealed_temperature, sample_demonstrations, self_consistent_output
from p2m_lib.generate.prompts import extract_input, extract_output, input_prompt, output_prompt
from p2m_lib.generate.strategies import closed_label_set, first_samples, label_counts
from p2m_lib.types import Example


@pytest.mark.parametrize(
    ("generated", "expected"),
    [(0, 0.5), (50, 1.1), (100, 1.7), (150, 1.7), (25, 0.8)],
)
def test_annealing_goes_linearly_from_initial_to_max(generated, expected):
    assert annealed_temperature(generated, 100, 0.5, 1.7) == pytest.approx(expected)


def test_self_consistency_keeps_most_frequent():
    assert self_consistent_output(["b", "a", "b", "c"]) == "b"


def test_self_consistency_tie_goes_to_shortest():
    assert self_consistent_output(["longer", "short", "longer", "short"]) == "short"


def test_self_consistency_tie_of_equal_length_goes_to_first_seen():
    assert self_consistent_output(["yes", "no!", "no!", "yes", "maybe"]) == "yes"
    assert self_consistent_output(["no!", "yes", "yes", "no!"]) == "no!"


def test_self_consistency_ignores_empty_and_whitespace():
    assert self_consistent_output(["", "  ", "x ", " x", "yy"]) == "x"
    assert self_consistent_output(["", " \n"]) is None


@pytest.mark.parametrize(("samples", "first"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)])
def test_the_first_samples_are_the_fewest_whose_agreement_decides_the_vote(samples, first):
    assert first_samples(samples) == first
    # Agreeing, they outnumber all the rest: no other answer can tie them, whatever the rest say.
    assert first > samples - first


def test_demonstrations_hold_user_examples_and_a_sample_of_generated():
    user = [Example("u1", "o1"), Example("u2", "o2")]
    generated = [Example(f"g{i}", "o") for i in range(10)]
    picked = sample_demonstrations(user, generated, 3, random.Random(0))
    assert len(picked) == 5
    assert set(user) <= set(picked)
    assert len(set(picked) & set(generated)) == 3
    assert sample_demonstrations(user, [], 3, random.Random(0)) in (user, user[::-1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_without_generated_demonstrations_the_users_come_in_the_prompts_order(seed):
    user = [Example("u1", "o1"), Example("u2", "o2"), Example("u3", "o3")]
    generated = [Example(f"g{i}", "o") for i in range(10)]
    assert sample_demonstrations(user, generated, 0, random.Random(seed)) == user


TEAMS = [
    Example("charged twice", "billing"),
    Example("parcel lost", "delivery"),
    Example("no login", "account"),
]


def test_a_classification_task_shows_itself_in_the_generated_labels():
    labelled = [Example(f"t{i}", ["billing", "Delivery", "billing "][i % 3]) for i in range(19)]
    assert closed_label_set(TEAMS, labelled) == ()  # too few generated yet to tell
    labelled.append(Example("t19", "something else"))
    assert closed_label_set(TEAMS, labelled) == ("billing", "delivery", "account")
    assert label_counts(TEAMS, labelled) == {"billing": 13, "delivery": 6, "account": 0}
    # Two answers in ten outside the demonstrations' labels: not a closed set.
    labelled += [Example(f"x{i}", f"other {i}") for i in range(4)]
    assert closed_label_set(TEAMS, labelled) == ()


def test_dates_and_single_answer_prompts_are_not_classification():
    dates = [Example("May 1 2020", "2020-05-01"), Example("1/2/2021", "2021-01-02")]
    generated = [Example(f"d{i}", f"2020-01-{i + 1:02d}") for i in range(30)]
    assert closed_label_set(dates, generated) == ()
    assert label_counts(dates, generated) == {}
    one_label = [Example("a", "yes"), Example("b", "yes")]
    assert closed_label_set(one_label, [Example(f"c{i}", "yes") for i in range(30)]) == ()


def test_prompts_are_completion_patterns():
    demos = [Example("3 + 4", "7")]
    assert input_prompt("Add the numbers.", demos) == "Add the numbers.\n\nInput: 3 + 4\nOutput: 7\n\nInput:"
    assert output_prompt(" Add the numbers. ", demos, "1 + 1") == (
        "Add the numbers.\n\nInput: 3 + 4\nOutput: 7\n\nInput: 1 + 1\nOutput:"
    )
    assert input_prompt("Add.", [], chat=True).startswith("Continue the pattern below.")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (" 12 + 5", "12 + 5"),
        ("Input: 12 + 5\nOutput: 17", "12 + 5"),
        ("12 + 5 Output: 17", "12 + 5"),
        ("  \n", ""),
    ],
)
def test_extract_input(reply, expected):
    assert extract_input(reply) == expected


@pytest.mark.parametrize(
    ("reply", "expected"),
    [(" 17", "17"), ("\n\nOutput: 17\nInput: 3", "17"), ("", "")],
)
def test_extract_output(reply, expected):
    assert extract_output(reply) == expected
