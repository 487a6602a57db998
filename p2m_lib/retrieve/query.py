"""What retrieval reads from a prompt: the instruction, the demonstrations, and the languages named."""

from __future__ import annotations

import re
from dataclasses import dataclass

from p2m_lib.errors import P2MError

# Languages that catalogs name in descriptions; "english" is among them.
_LANGUAGE_NAMES = """
    afrikaans albanian amharic arabic armenian assamese azerbaijani bangla basque belarusian bengali
    bosnian bulgarian burmese cantonese catalan cebuano chinese croatian czech danish dutch english
    estonian faroese farsi filipino finnish french galician georgian german greek gujarati hausa
    hebrew hindi hungarian icelandic igbo indonesian irish isixhosa isizulu italian japanese
    javanese kannada kazakh khmer kinyarwanda korean kurdish kyrgyz lao latvian lithuanian
    luxembourgish macedonian malay malayalam maltese mandarin marathi moldavian mongolian myanmar
    nepali norwegian odia oriya pashto persian polish portuguese punjabi romanian russian sanskrit
    sepedi serbian sesotho setswana sinhala siswati slovak slovene slovenian somali spanish swahili
    swedish tagalog tamil telugu thai tibetan tigrinya turkish turkmen ukrainian urdu uyghur uzbek
    vietnamese welsh xhosa yoruba zulu
"""
_LANGUAGES = frozenset(_LANGUAGE_NAMES.split())
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class RetrievalQuery:
    """A prompt as retrieval sees it.

    Attributes:
        instruction: What the task is: the prompt's first paragraph (all of it when it has one).
        demonstrations: The rest of the prompt, whose content words say little about the task.
        languages: Natural languages the prompt names ("french", "japanese", ...).
    """

    instruction: str
    demonstrations: str
    languages: frozenset[str]


def make_query(prompt: str) -> RetrievalQuery:
    """Split a prompt (or an instruction alone) into what retrieval weighs differently.

    Measured on tests/retrieval_prompts.jsonl, searching with the first paragraph instead of the
    whole prompt lifted dense retrieval from 68% to 82% of prompts with a relevant dataset in the
    top 10: demonstrations are about their content (films, numbers), not about the task.

    Raises:
        P2MError: The prompt is empty.
    """
    text = prompt.strip()
    if not text:
        raise P2MError("the prompt is empty; write what the model should do, and a few examples")
    instruction, _, demonstrations = text.partition("\n\n")
    return RetrievalQuery(instruction.strip(), demonstrations.strip(), languages_named(text))


def languages_named(text: str) -> frozenset[str]:
    """The natural languages that `text` names, lower-cased."""
    return frozenset(_WORD.findall(text.lower())) & _LANGUAGES
