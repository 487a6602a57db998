"""A cheap guess whether an instruction is English, to decide whether to translate it.

No language-detection package: the guess only chooses whether to spend one teacher request on a
translation for retrieval, and leans towards English when unsure (the instruction then serves
retrieval as it is). Text is English unless
- fewer than 80% of its letters are ASCII (Chinese, Russian, Greek, ...), or
- it holds more function words of other Latin-script languages (German, Spanish, French,
  Italian, Portuguese, Dutch) than English ones. Words common to English and one of them
  ("a", "in", "an") count for neither.
"""

from __future__ import annotations

import re

_MIN_ASCII_LETTER_SHARE = 0.8
_WORD = re.compile(r"[^\W\d_]+")

_ENGLISH_WORDS = frozenset(
    {
        "the", "to", "of", "and", "is", "are", "for", "with", "this", "that", "each", "into", "from",
        "as", "by", "be", "it", "or", "on", "given", "following", "your", "which", "what", "should",
        "will", "its", "their", "sentence", "text", "word", "words", "answer",
    }
)
_OTHER_WORDS = frozenset(
    {
        # German
        "der", "die", "das", "und", "ist", "den", "dem", "ein", "eine", "einen", "nicht", "mit",
        "für", "auf", "ins", "im", "zu", "zum", "zur", "oder", "sie",
        # Spanish
        "el", "los", "las", "del", "y", "que", "en", "un", "una", "por", "para", "es", "al", "lo",
        "se", "su",
        # French
        "la", "le", "les", "des", "et", "est", "une", "du", "pour", "dans", "qui", "au", "aux",
        # Italian, Portuguese, Dutch
        "il", "di", "che", "per", "con", "della", "gli", "um", "uma", "não", "os", "het", "een",
        "van",
    }
)


def looks_english(text: str) -> bool:
    """Whether `text` reads as English by the rules in this module's docstring."""
    letters = [char for char in text if char.isalpha()]
    if not letters:
        return True
    if sum(char.isascii() for char in letters) / len(letters) < _MIN_ASCII_LETTER_SHARE:
        return False
    words = [word.casefold() for word in _WORD.findall(text)]
    english = sum(word in _ENGLISH_WORDS for word in words)
    other = sum(word in _OTHER_WORDS for word in words)
    return english >= other
