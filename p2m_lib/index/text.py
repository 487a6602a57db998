"""Text that the indices see: entry names made readable, model cards cleaned, words for BM25."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_NAME_SEPARATORS = re.compile(r"[/_\-.]+")
_LETTER_DIGIT = re.compile(r"(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")
_HTML_TAG = re.compile(r"<[^>]{0,500}>")
_URL = re.compile(r"https?://\S+|www\.\S+")
_MARKDOWN_NOISE = re.compile(r"[#*|`>\[\]()!=]+")
# Words whose final "s" is not a plural ("class", "corpus", "analysis", "news").
_KEEP_FINAL_S = ("ss", "us", "is", "ews")

# Function words, and the words every prompt or card is full of and no description is about.
_STOPWORD_TEXT = """
    a about above after again all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has
    have having he her here hers him his how i if in into is it its itself just me more most my no
    nor not now of off on once only or other our out over own same she should so some such than that
    the their them then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours given following please
    write return using use used make based like e g eg etc one two
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def name_words(name: str) -> str:
    """A hub name as words: "dair-ai/emotion" -> "dair ai emotion", "nl2bash" -> "nl 2 bash".

    Names often carry the only mention of what a dataset is for (nl2bash, CodeSearchNet).
    """
    spaced = _LETTER_DIGIT.sub(" ", _CAMEL.sub(" ", name))
    return " ".join(_NAME_SEPARATORS.sub(" ", spaced).split())


def clean_card(text: str) -> str:
    """A model card without HTML tags, links and markdown punctuation."""
    text = _URL.sub(" ", _HTML_TAG.sub(" ", text))
    return " ".join(_MARKDOWN_NOISE.sub(" ", text).split())


def tokenize(text: str) -> list[str]:
    """Lower-cased, stemmed words of `text` without stopwords, for BM25."""
    words = _WORD.findall(_CAMEL.sub(" ", text).lower())
    return [stem(word) for word in words if word not in STOPWORDS]


def stem(word: str) -> str:
    """A light English stemmer: plural and final -y/-e normalised, then at most six characters.

    Truncating to a fixed prefix is a crude stemmer that works about as well as Porter's for
    retrieval; it maps "translate"/"translation", "summary"/"summarization" and
    "classify"/"classification" together, which prompts and descriptions need.
    """
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "i"
    elif len(word) > 3 and word.endswith("s") and not word.endswith(_KEEP_FINAL_S):
        word = word[:-1]
    if len(word) > 3 and word.endswith("y"):
        word = word[:-1] + "i"
    elif len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word[:6]
