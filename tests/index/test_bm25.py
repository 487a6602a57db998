"""BM25 as a sparse matrix, checked against rank-bm25, and the words it is built from."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from p2m_lib.index.bm25 import BM25
from p2m_lib.index.text import clean_card, name_words, stem, tokenize

CORPUS = [
    ["movi", "review", "sentim", "movi"],
    ["news", "articl", "summar"],
    ["review", "product", "star", "rate", "review", "amazon"],
    ["question", "answer", "wikipedia"],
]


def test_scores_match_rank_bm25_given_the_same_idf() -> None:
    reference = BM25Okapi(CORPUS, k1=1.2, b=0.75)
    # rank-bm25 floors negative idf with an epsilon; ours is Lucene's idf, which is never negative.
    for term in reference.idf:
        frequency = sum(term in document for document in CORPUS)
        reference.idf[term] = math.log1p((len(CORPUS) - frequency + 0.5) / (frequency + 0.5))
    index = BM25.build(CORPUS)

    for query in (["review"], ["movi", "review"], ["question", "absent"], ["summar", "news", "star"]):
        expected = reference.get_scores(query)
        assert np.allclose(index.scores(dict.fromkeys(query, 1.0)), expected, rtol=1e-5)


def test_query_terms_are_weighted_and_unknown_terms_ignored() -> None:
    index = BM25.build(CORPUS)
    plain = index.scores({"review": 1.0})

    assert np.allclose(index.scores({"review": 0.5}), plain * 0.5)
    assert not index.scores({"unseen": 1.0}).any()
    assert not index.scores({}).any()


def test_save_and_load_keep_the_scores(tmp_path: Path) -> None:
    index = BM25.build(CORPUS)
    index.save(tmp_path)

    loaded = BM25.load(tmp_path)

    assert loaded.vocabulary == index.vocabulary
    assert np.allclose(
        loaded.scores({"review": 1.0, "news": 1.0}), index.scores({"review": 1.0, "news": 1.0})
    )


@pytest.mark.parametrize(
    ("variants", "common"),
    [
        (["translate", "translation", "translations"], "transl"),
        (["summary", "summaries", "summarization", "summarize"], "summar"),
        (["classify", "classification"], "classi"),
        (["movie", "movies"], "movi"),
        (["entity", "entities"], "entiti"),
    ],
)
def test_stemming_joins_the_forms_prompts_and_descriptions_use(variants: list[str], common: str) -> None:
    assert {stem(word) for word in variants} == {common}


def test_tokenize_drops_stopwords_and_keeps_news_apart_from_new() -> None:
    assert tokenize("Classify the NEWS articles, please") == ["classi", "news", "articl"]
    assert stem("new") != stem("news")


def test_names_become_words() -> None:
    assert name_words("jiacheng-ye/nl2bash") == "jiacheng ye nl 2 bash"
    assert name_words("Helsinki-NLP/tatoeba_mt") == "Helsinki NLP tatoeba mt"
    assert name_words("CodeSearchNet") == "Code Search Net"


def test_clean_card_removes_html_links_and_markdown() -> None:
    card = '<div style="x">**GPT-2** fine-tuned on [tweets](https://twitter.com/x) | Data |</div>'

    assert clean_card(card) == "GPT-2 fine-tuned on tweets Data"
