import random

import pytest

from p2m_lib.generate import filters
from p2m_lib.generate.filters import (
    InputFilter,
    NearDuplicateIndex,
    OutputFilter,
    jaccard,
    normalize,
    repeats_itself,
    shingles,
)
from p2m_lib.types import Example, TaskSpec

REVERSE = TaskSpec(
    "Reverse the order of the words.",
    (Example("good morning world", "world morning good"), Example("the cat sat", "sat cat the")),
)
SENTIMENT = TaskSpec(
    "Is the review positive or negative?",
    (Example("I loved every minute.", "positive"), Example("A waste of time.", "negative")),
)


def test_normalize_ignores_case_spacing_and_edge_punctuation():
    assert normalize('  "What is  the Capital of France?" ') == "what is the capital of france"
    assert normalize("2 + 3") != normalize("2 - 3")


def test_shingles_are_word_unigrams_and_bigrams():
    assert shingles("The cat, sat.") == {"the", "cat", ",", "sat", "the cat", "cat sat"}
    assert jaccard(shingles("a b"), shingles("a b")) == 1.0


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("what is the capital of france", ("kept", True)),
        ("What is the capital of Spain?", None),
        ("what is 123+5", None),
        (
            "A long paragraph about the history of the Roman empire and its emperors who ruled for "
            "centuries across Europe and beyond the seas",
            ("kept", False),
        ),
    ],
)
def test_near_duplicate_index_finds_exact_and_near_copies_only(query, expected):
    index = NearDuplicateIndex(threshold=0.8)
    for text in (
        "What is the capital of France?",
        "what is 123+4",
        "A long paragraph about the history of the Roman empire and its emperors who ruled for "
        "centuries across Europe and beyond the sea",
    ):
        index.add(text, "kept")

    assert index.find(query) == expected


def test_near_duplicate_index_agrees_with_exact_jaccard_on_random_texts():
    rng = random.Random(0)
    words = [f"w{i}" for i in range(30)]
    texts = [" ".join(rng.choice(words) for _ in range(8)) for _ in range(200)]
    index = NearDuplicateIndex(threshold=0.5)
    kept: list[str] = []
    for text in texts:
        found = index.find(text)
        truth = any(jaccard(shingles(text), shingles(k)) >= 0.5 for k in kept)
        # Matches are confirmed exactly, so never false; misses are rare at this threshold.
        assert found is None or truth
        if found is None:
            index.add(text, "kept")
            kept.append(text)
    assert len(index) == len(kept) > 150


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        ("", filters.EMPTY_INPUT),
        ("Good morning, world.", filters.DEMONSTRATION_COPY),
        ("Sure! Here is a new input", filters.CHATTER),
        ("```json {}", filters.MARKUP),
        ("x y z Answer: z y x", filters.ANSWER_LEAK),
        ("world morning good", filters.LABEL_AS_INPUT),
        ("Reverse the order of the words", filters.INSTRUCTION_ECHO),
        ("@user " * 9 + "so true", filters.REPETITION),
        ("blue green red", None),
    ],
)
def test_input_filter_names_the_reason(candidate, reason):
    assert InputFilter(REVERSE).rejection(candidate) == reason


@pytest.mark.parametrize(
    ("text", "loops"),
    [
        ("@user " * 8 + "Hallo", True),
        ("#MeinBezirk #sport #bezirk " + "#meinbezirk #sport #bezirk " * 3, True),
        ("Das ist gut. " * 4, True),
        # Emphasis is no loop: fewer than eight words, or fewer than four copies.
        ("@user @user @user @user Hallo", False),
        ("ha ha ha ha ha, no no no no", False),
        ("Das ist gut. " * 3, False),
        ("#MeinBezirk #sport #bezirk " * 3, False),
        ("1994-03-07", False),
    ],
)
def test_repeats_itself_finds_a_few_words_over_and_over(text, loops):
    assert repeats_itself(text) is loops


def test_inputs_may_repeat_themselves_when_the_demonstrations_do():
    tweets = TaskSpec("Sentiment?", (Example("ahre " * 10, "neutral"), Example("great day", "positive")))
    assert InputFilter(tweets).rejection("@user " * 9 + "so true") is None


def test_input_filter_catches_duplicates_of_kept_inputs():
    kept = InputFilter(REVERSE)
    kept.keep("one two three four five six seven eight nine ten")

    assert kept.rejection("One two three four five six seven eight nine ten!") == filters.DUPLICATE_INPUT
    assert (
        kept.rejection("one two three four five six seven eight nine ten eleven")
        == filters.NEAR_DUPLICATE_INPUT
    )
    assert kept.rejection("one two three") is None


def test_a_label_is_no_input_of_a_classification_task():
    assert InputFilter(SENTIMENT).rejection("Positive.") == filters.LABEL_AS_INPUT


def test_formats_the_demonstrations_use_are_allowed():
    json_task = TaskSpec("Name the key.", (Example('{"a": 1}', "a"), Example("Answer: yes", "yes")))
    kept = InputFilter(json_task)

    assert kept.rejection('{"b": 2}') is None
    assert kept.rejection("Answer: no") is None
    assert kept.rejection("Label: no") == filters.ANSWER_LEAK


def test_output_filter_votes_among_well_formed_samples():
    outputs = OutputFilter(REVERSE)

    assert outputs.choose("a b c", ["Sure, here it is", "c b a", "c b a", "c a b"]) == ("c b a", None)
    assert outputs.choose("a b c", ["", " ", "Sure thing"]) == (None, filters.EMPTY_OUTPUT)
    assert outputs.choose("a b c", ["Sure thing", "Certainly"]) == (None, filters.CHATTER)
    assert outputs.choose("a b c", []) == (None, filters.EMPTY_OUTPUT)


def test_an_output_inside_its_input_is_a_leak_unless_the_task_extracts():
    extraction = TaskSpec("Name the city.", (Example("I live in Paris now.", "Paris"),))

    assert OutputFilter(REVERSE).choose("alpha beta gamma", ["beta gamma"]) == (None, filters.ANSWER_LEAK)
    assert OutputFilter(extraction).choose("She moved to Rome.", ["Rome"]) == ("Rome", None)


def test_an_input_naming_its_class_is_no_leak():
    teams = TaskSpec("Route it.", (Example("charged twice", "billing"), Example("parcel lost", "account")))
    outputs = OutputFilter(teams)

    # A class the demonstrations show, or one of the labels generation found, whatever its case.
    assert outputs.choose("I can't log into my account.", ["account"] * 3) == ("account", None)
    assert outputs.choose("My Billing address is wrong", [" Billing"] * 3) == ("Billing", None)
    found_labels = ("billing", "account", "technical")
    assert outputs.choose("Technical support never answered.", ["technical"] * 3, found_labels) == (
        "technical",
        None,
    )
    # Any other answer found in its input still is.
    assert outputs.choose("Send it to the delivery team", ["delivery"] * 3) == (None, filters.ANSWER_LEAK)


def test_a_classification_task_votes_among_its_labels_only():
    teams = TaskSpec("Route it.", (Example("charged twice", "billing"), Example("parcel lost", "delivery")))
    labels = ("billing", "delivery")
    outputs = OutputFilter(teams)

    assert outputs.choose("late box", ["delivery, billing", " Delivery", "delivery, billing"], labels) == (
        "Delivery",
        None,
    )
    assert outputs.choose("late box", ["delivery, billing"] * 3, labels) == (None, filters.OUTSIDE_LABELS)
    # Without a label set (too few examples yet, or not a classification task) anything well-formed counts.
    assert outputs.choose("late box", ["delivery, billing"] * 3) == ("delivery, billing", None)


def test_samples_are_unanimous_when_all_pass_the_checks_and_say_the_same():
    teams = TaskSpec("Route it.", (Example("charged twice", "billing"), Example("parcel lost", "delivery")))
    outputs = OutputFilter(teams)

    assert outputs.unanimous(["billing", " billing "])
    assert not outputs.unanimous(["billing", "delivery"])
    # The vote compares case too: "Billing" and "billing" are two answers.
    assert not outputs.unanimous(["billing", "Billing"])
    assert outputs.unanimous(["delivery, billing"] * 2)
    assert not outputs.unanimous(["delivery, billing"] * 2, ("billing", "delivery"))
    assert not outputs.unanimous(["", ""])
