"""parse_rules: the instruction and the demonstrations of every common prompt layout, exactly."""

from __future__ import annotations

import pytest

from p2m_lib.errors import P2MError
from p2m_lib.parse import parse_rules
from p2m_lib.parse.rules import has_known_labels

LAYOUTS = {
    "input-output": (
        "Translate English to French.\n\nInput: cat\nOutput: chat\n\nInput: dog\nOutput: chien\n",
        "Translate English to French.",
        [("cat", "chat"), ("dog", "chien")],
    ),
    "input-output-one-line": (
        "Translate English to French.\nInput: cat Output: chat\nInput: good dog Output: bon chien",
        "Translate English to French.",
        [("cat", "chat"), ("good dog", "bon chien")],
    ),
    "one-line-with-separator": (
        "Translate.\nInput: hi | Output: salut\nInput: bye | Output: au revoir",
        "Translate.",
        [("hi", "salut"), ("bye", "au revoir")],
    ),
    "one-line-after-instruction": (
        "Translate to French. Input: cat Output: chat",
        "Translate to French.",
        [("cat", "chat")],
    ),
    "q-a-with-query-slot": (
        "Answer the question.\nQ: 2+2?\nA: 4\nQ: Capital of France?\nA: Paris\nQ: 3+3?\nA:",
        "Answer the question.",
        [("2+2?", "4"), ("Capital of France?", "Paris")],
    ),
    "question-answer-instruction-last": (
        "Question: What is 2+2?\nAnswer: 4\n\nQuestion: What is 3+3?\nAnswer: 6\n\nAnswer the math question.",
        "Answer the math question.",
        [("What is 2+2?", "4"), ("What is 3+3?", "6")],
    ),
    "text-label": (
        "Label the topic of each text.\nText: The match ended 2-1.\nLabel: sports\n"
        "Text: Stocks fell.\nLabel: business",
        "Label the topic of each text.",
        [("The match ended 2-1.", "sports"), ("Stocks fell.", "business")],
    ),
    "unknown-labels-that-repeat": (
        "Translate English to French.\nEnglish: hello\nFrench: bonjour\nEnglish: cat\nFrench: chat",
        "Translate English to French.",
        [("hello", "bonjour"), ("cat", "chat")],
    ),
    "unknown-labels-one-line": (
        "English: hello French: bonjour\nEnglish: cat French: chat\nTranslate English to French.",
        "Translate English to French.",
        [("hello", "bonjour"), ("cat", "chat")],
    ),
    "single-demonstration-known-labels": (
        "Classify the sentiment.\nSentence: I loved it.\nSentiment: positive",
        "Classify the sentiment.",
        [("I loved it.", "positive")],
    ),
    "headings-and-bold-labels": (
        "## Instruction\nClassify the review.\n\n"
        "### Example 1\n**Review:** great\n**Sentiment:** positive\n\n"
        "### Example 2\n**Review**: bad\n**Sentiment**: negative\n---\n",
        "Classify the review.",
        [("great", "positive"), ("bad", "negative")],
    ),
    "example-n-prefix": (
        "Task: Classify sentiment.\n\nExample 1: Input: great movie Output: positive\n"
        "Example 2: Input: awful Output: negative",
        "Classify sentiment.",
        [("great movie", "positive"), ("awful", "negative")],
    ),
    "numbered-labels": (
        "Give the antonym.\n1. Input: hot\n   Output: cold\n2. Input: up\n   Output: down",
        "Give the antonym.",
        [("hot", "cold"), ("up", "down")],
    ),
    "multi-line-values": (
        "Summarize the text.\n\nInput:\nline one\nline two\nOutput:\nsum one\nsum two\n\n"
        "Input:\nthird\nOutput:\nsum three\n\nKeep it short.",
        "Summarize the text.\n\nKeep it short.",
        [("line one\nline two", "sum one\nsum two"), ("third", "sum three")],
    ),
    "fields-before-the-answer": (
        "Answer from the context.\n"
        "Context: The sky is blue.\nQuestion: What color is the sky?\nAnswer: blue\n\n"
        "Context: Grass is green.\nQuestion: What color is grass?\nAnswer: green",
        "Answer from the context.",
        [
            ("Context: The sky is blue.\nQuestion: What color is the sky?", "blue"),
            ("Context: Grass is green.\nQuestion: What color is grass?", "green"),
        ],
    ),
    "labelled-lines-inside-generic-input": (
        "Name the dialogue act.\nInput:\nAlice: hi\nBob: hello\nOutput: greeting\n\n"
        "Input:\nAlice: bye\nBob: see you\nOutput: farewell",
        "Name the dialogue act.",
        [("Alice: hi\nBob: hello", "greeting"), ("Alice: bye\nBob: see you", "farewell")],
    ),
    "paper-quoted-layout": (
        "Your task is to answer the question from the context.\n\n"
        'input="Question: Where is it? Context: It is in Paris."\noutput="Paris"\n\n'
        'input="Question: Who did it? Context: Bob did it."\noutput="Bob"',
        "Your task is to answer the question from the context.",
        [
            ("Question: Where is it? Context: It is in Paris.", "Paris"),
            ("Question: Who did it? Context: Bob did it.", "Bob"),
        ],
    ),
    "windows-line-endings": (
        "Translate.\r\nInput: cat\r\nOutput: chat\r\n\r\nInput: dog\r\nOutput: chien\r\n\r\nBe brief.\r\n",
        "Translate.\n\nBe brief.",
        [("cat", "chat"), ("dog", "chien")],
    ),
    "arrows": (
        "Pluralize the word.\n- cat -> cats\n- dog => dogs\n- mouse → mice",
        "Pluralize the word.",
        [("cat", "cats"), ("dog", "dogs"), ("mouse", "mice")],
    ),
    "numbered-arrows": (
        "Classify sentiment.\n\n1. great movie -> positive\n2. awful -> negative",
        "Classify sentiment.",
        [("great movie", "positive"), ("awful", "negative")],
    ),
    "arrows-in-the-instruction": (
        "Translate English -> French:\ncat -> chat\ndog -> chien",
        "Translate English -> French:",
        [("cat", "chat"), ("dog", "chien")],
    ),
    "arrow-inside-brackets": (
        "Normalize dates (e.g. 3/4 -> March 4).\n01/02 -> January 2\n05/06 -> May 6",
        "Normalize dates (e.g. 3/4 -> March 4).",
        [("01/02", "January 2"), ("05/06", "May 6")],
    ),
}


@pytest.mark.parametrize(("prompt", "instruction", "examples"), LAYOUTS.values(), ids=LAYOUTS.keys())
def test_layout(prompt: str, instruction: str, examples: list[tuple[str, str]]) -> None:
    spec = parse_rules(prompt)

    assert spec.instruction == instruction
    assert [(example.input, example.output) for example in spec.examples] == examples
    assert spec.prompt == prompt
    assert spec.retrieval_instruction == ""


@pytest.mark.parametrize("prompt", [case[0] for case in LAYOUTS.values()], ids=LAYOUTS.keys())
def test_demonstrations_occur_verbatim_in_the_prompt(prompt: str) -> None:
    for example in parse_rules(prompt).examples:
        assert example.input in prompt
        assert example.output in prompt


NON_ENGLISH = {
    "german": (
        "Übersetze ins Englische.\nEingabe: Hallo Welt\nAusgabe: Hello world\n"
        "Eingabe: Danke\nAusgabe: Thanks",
        "Übersetze ins Englische.",
        [("Hallo Welt", "Hello world"), ("Danke", "Thanks")],
    ),
    "german-heading-unknown-labels": (
        "Aufgabe: Klassifiziere die Stimmung.\n"
        "Satz: Toll!\nStimmung: positiv\nSatz: Schlecht.\nStimmung: negativ",
        "Klassifiziere die Stimmung.",
        [("Toll!", "positiv"), ("Schlecht.", "negativ")],
    ),
    "spanish": (
        "Traduce al inglés.\nEntrada: hola\nSalida: hello",
        "Traduce al inglés.",
        [("hola", "hello")],
    ),
    "french-space-before-colon": (
        "Traduisez en anglais.\nEntrée : bonjour\nSortie : hello\nEntrée\u00a0: merci\nSortie\u00a0: thanks",
        "Traduisez en anglais.",
        [("bonjour", "hello"), ("merci", "thanks")],
    ),
    "chinese-full-width-colon": (
        "将中文翻译成英文。\n输入：你好\n输出：Hello\n输入：谢谢\n输出：Thank you",
        "将中文翻译成英文。",
        [("你好", "Hello"), ("谢谢", "Thank you")],
    ),
    "japanese-paper-quoted-layout": (
        "Pythonで1行のコードを生成してください。\n\n"
        'input="リスト`words`内の単語を数える"\noutput="Counter(words)"\n\n'
        'input="文字列`s`を空白で分割する"\noutput="s.split(\' \')"\n',
        "Pythonで1行のコードを生成してください。",
        [("リスト`words`内の単語を数える", "Counter(words)"), ("文字列`s`を空白で分割する", "s.split(' ')")],
    ),
    "chinese-one-line": (
        "翻译成英文。\n输入：你好，输出：Hello\n输入：谢谢，输出：Thank you",
        "翻译成英文。",
        [("你好", "Hello"), ("谢谢", "Thank you")],
    ),
}


@pytest.mark.parametrize(("prompt", "instruction", "examples"), NON_ENGLISH.values(), ids=NON_ENGLISH.keys())
def test_non_english_layout(prompt: str, instruction: str, examples: list[tuple[str, str]]) -> None:
    spec = parse_rules(prompt)

    assert spec.instruction == instruction
    assert [(example.input, example.output) for example in spec.examples] == examples


ZERO_SHOT = {
    "plain": ("Write a haiku about the sea.\n", "Write a haiku about the sea."),
    "heading": ("Instruction:\nSummarize the article.", "Summarize the article."),
    "lone-arrow": ("Convert Celsius -> Fahrenheit", "Convert Celsius -> Fahrenheit"),
    "times-and-steps": ("Step 1: read the log at 10:30.\nStep 2: report.",) * 2,
    "query-slot-then-more": ("Summarize.\nText: foo\nSummary:\n\nBe brief.", "Summarize.\n\nBe brief."),
    "query-slot-only": ("Summarize the text.\nText: the text to summarize\nSummary:", "Summarize the text."),
}


@pytest.mark.parametrize(("prompt", "instruction"), ZERO_SHOT.values(), ids=ZERO_SHOT.keys())
def test_zero_shot(prompt: str, instruction: str) -> None:
    spec = parse_rules(prompt)

    assert spec.instruction == instruction
    assert spec.examples == ()


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        (
            "Input: a\nOutput: b\nInput: c\nOutput: d",
            "the prompt has 2 demonstrations but no instruction; add a line saying what the model should do",
        ),
        (
            "Examples:\ncat -> cats\ndog -> dogs",
            "the prompt has 2 demonstrations but no instruction; add a line saying what the model should do",
        ),
        (
            "Input: great\nOutput: positive",
            "the prompt has 1 demonstration but no instruction; add a line saying what the model should do",
        ),
        ("### Examples\n---", "the prompt has no instruction; add a line saying what the model should do"),
        (" \n", "the prompt is empty; write what the model should do, then a few examples"),
    ],
    ids=["two-demonstrations", "arrows", "one-demonstration", "headings-only", "empty"],
)
def test_no_instruction_is_an_error(prompt: str, message: str) -> None:
    with pytest.raises(P2MError) as raised:
        parse_rules(prompt)

    assert str(raised.value) == message


def test_prompt_of_thousands_of_distinct_labels_still_parses() -> None:
    # Every label must not cost a pass over the prompt: this would take minutes, not a second.
    words = ["".join(chr(ord("a") + int(digit)) for digit in str(number)) for number in range(4000)]
    lines = [f"Note {word}: value" for word in words]
    spec = parse_rules("Do it.\n" + "\n".join(lines * 2))

    assert spec.instruction.startswith("Do it.")


@pytest.mark.parametrize(
    ("prompt", "known"),
    [
        ("Give the antonym.\nInput: hot\nOutput: cold\nInput: up\nOutput: down", True),
        ("Answer.\nQ: Capital of France?\nA: Paris", True),
        ("Route it.\n\nTweet: late again\nSentiment: negative\n\nTweet: on time\nSentiment: positive", True),
        ("Give the antonym.\nWord: hot\nOpposite: cold\nWord: up\nOpposite: down", False),
        ('Classify.\nReview: "Great" -> positive\nReview: "Bad" -> negative', False),
        ("Translate the sentence into French.", False),
    ],
)
def test_has_known_labels(prompt: str, known: bool) -> None:
    assert has_known_labels(prompt) is known
