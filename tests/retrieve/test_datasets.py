"""Dataset retrieval: fusion, what the prompt's parts weigh, LLM reranking, and hit rates on real prompts."""

from __future__ import annotations

from pathlib import Path

import pytest

from p2m_lib.errors import P2MError
from p2m_lib.index import DatasetIndex
from p2m_lib.retrieve import retrieve_datasets
from p2m_lib.retrieve.evaluation import first_relevant_ranks, hit_rate, read_labelled_prompts
from p2m_lib.retrieve.rerank import picked_positions

LABELLED_PROMPTS = Path(__file__).resolve().parents[1] / "retrieval_prompts.jsonl"
SENTIMENT_PROMPT = """Decide whether a film review is positive or negative.

Review: A wonderful, moving story.
Sentiment: positive"""


def names(hits: list) -> list[str]:
    return [hit.name for hit in hits]


def test_the_best_fitting_dataset_comes_first_with_scores_best_first(
    small_dataset_index: DatasetIndex,
) -> None:
    hits = retrieve_datasets(small_dataset_index, SENTIMENT_PROMPT, top_k=5)

    assert hits[0].name == "imdb" and hits[0].description.startswith("Large Movie Review")
    assert len(hits) == 5
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0 and scores[0] <= 1


def test_the_name_alone_can_say_what_a_dataset_is_for(small_dataset_index: DatasetIndex) -> None:
    hits = retrieve_datasets(small_dataset_index, "Turn the request into a bash command.", top_k=3)

    assert hits[0].name == "jiacheng-ye/nl2bash"


def test_demonstrations_weigh_less_than_the_instruction(small_dataset_index: DatasetIndex) -> None:
    prompt = """Summarize the news article in one sentence.

Article: Fans on Twitter sent messages with emoticons about the sentiment of the match.
Summary: Fans tweeted about the match."""

    assert retrieve_datasets(small_dataset_index, prompt, top_k=1)[0].name == "cnn_dailymail"


def test_datasets_about_a_language_the_prompt_does_not_name_are_demoted(
    small_dataset_index: DatasetIndex,
) -> None:
    english = retrieve_datasets(
        small_dataset_index, "Find the named entities: people, places, organisations.", 3
    )
    afrikaans = retrieve_datasets(small_dataset_index, "Find the named entities in Afrikaans sentences.", 3)

    assert names(english)[0] == "conll2003"
    assert names(afrikaans)[0] == "afrikaans_ner_corpus"


def test_a_query_sharing_no_word_with_any_description_still_gets_dense_results(
    small_dataset_index: DatasetIndex,
) -> None:
    hits = retrieve_datasets(small_dataset_index, "zxqv wplk", top_k=25)

    assert len(hits) == len(small_dataset_index.entries)
    assert all(0 < hit.score <= 0.5 for hit in hits)  # one retriever's vote only


def test_empty_prompts_and_bad_top_k_are_refused(small_dataset_index: DatasetIndex) -> None:
    with pytest.raises(P2MError, match="the prompt is empty"):
        retrieve_datasets(small_dataset_index, " \n\n ")
    with pytest.raises(P2MError, match="at least 1"):
        retrieve_datasets(small_dataset_index, SENTIMENT_PROMPT, top_k=0)


def test_a_capable_teacher_puts_its_picks_first(
    small_dataset_index: DatasetIndex, fake_teacher: type
) -> None:
    plain = retrieve_datasets(small_dataset_index, SENTIMENT_PROMPT, top_k=5)
    teacher = fake_teacher("The best are 3 and 5, then 3 again and 99.")

    reranked = retrieve_datasets(small_dataset_index, SENTIMENT_PROMPT, top_k=5, teacher=teacher)

    assert names(reranked) == [plain[2].name, plain[4].name, plain[0].name, plain[1].name, plain[3].name]
    assert "Task: Decide whether a film review is positive or negative." in teacher.prompts[0]
    assert "[1] imdb: Large Movie Review Dataset." in teacher.prompts[0]


@pytest.mark.parametrize(("reply", "capable"), [("none of them", True), ("2, 1", False)])
def test_an_unhelpful_or_incapable_teacher_leaves_the_order(
    small_dataset_index: DatasetIndex, fake_teacher: type, reply: str, capable: bool
) -> None:
    plain = retrieve_datasets(small_dataset_index, SENTIMENT_PROMPT, top_k=5)
    teacher = fake_teacher(reply, capable)

    assert names(retrieve_datasets(small_dataset_index, SENTIMENT_PROMPT, 5, teacher)) == names(plain)
    assert bool(teacher.prompts) == teacher.capable


def test_a_capable_teacher_that_does_not_rerank_is_not_asked(
    small_dataset_index: DatasetIndex, fake_teacher: type
) -> None:
    teacher = fake_teacher("3, 1")
    teacher.reranks = False

    reordered = retrieve_datasets(small_dataset_index, SENTIMENT_PROMPT, 5, teacher)

    assert names(reordered) == names(retrieve_datasets(small_dataset_index, SENTIMENT_PROMPT, top_k=5))
    assert teacher.prompts == []


def test_a_failing_teacher_leaves_the_order(small_dataset_index: DatasetIndex, fake_teacher: type) -> None:
    class FailingTeacher(fake_teacher):  # type: ignore[misc, valid-type]
        def complete(self, prompts, params):  # type: ignore[no-untyped-def]
            raise P2MError("the teacher endpoint timed out")

    plain = retrieve_datasets(small_dataset_index, SENTIMENT_PROMPT, top_k=5)

    assert names(retrieve_datasets(small_dataset_index, SENTIMENT_PROMPT, 5, FailingTeacher(""))) == names(
        plain
    )


def test_picked_positions_reads_numbers_in_range_once() -> None:
    assert picked_positions("[4], 2, 4, 0, 12", count=5) == [3, 1]


def test_the_labelled_prompt_set_is_large_and_names_only_catalog_datasets(
    shared_dataset_index: DatasetIndex,
) -> None:
    prompts = read_labelled_prompts(LABELLED_PROMPTS)
    catalog = {entry.name for entry in shared_dataset_index.entries}

    assert len(prompts) >= 40
    assert len({labelled.id for labelled in prompts}) == len(prompts)
    assert all(labelled.relevant and labelled.relevant <= catalog for labelled in prompts)


def test_hit_rates_on_the_shared_catalog_meet_the_targets(shared_dataset_index: DatasetIndex) -> None:
    ranks = first_relevant_ranks(shared_dataset_index, read_labelled_prompts(LABELLED_PROMPTS), depth=25)

    missed = {prompt: rank for prompt, rank in ranks.items() if rank is None or rank > 10}
    assert hit_rate(ranks, 25) >= 0.95, missed
    assert hit_rate(ranks, 10) >= 0.85, missed
