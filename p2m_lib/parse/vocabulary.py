"""Label words the deterministic parser knows, in the languages users write prompts in.

Every set holds casefolded words. The parser finds label pairs by their repetition alone; these
words break ties between candidate pairs, let a single demonstration count, accept a label
inside a line ("Input: hi Output: salut"), and tell headings ("Task:", "Example 2:") from labels.
"""

from __future__ import annotations

# Labels that name the input slot without saying what it holds: the label is left out of the
# example's input even when the input spans several labelled fields.
GENERIC_INPUT_LABELS = frozenset(
    {"input", "inputs", "x", "source", "eingabe", "entrada", "entrée", "entree", "输入", "入力"}
)

# Labels that say what the input holds ("Context:", "Question:"): kept in a multi-field input.
CONTENT_INPUT_LABELS = frozenset(
    {
        "q", "question", "query", "context", "passage", "text", "sentence", "document", "article",
        "review", "premise", "hypothesis", "claim", "tweet", "message", "problem", "english",
        "frage", "satz", "kontext", "pregunta", "texto", "oración", "oracion", "frase", "contexto",
        "texte", "phrase", "contexte", "问题", "问", "文本", "句子", "上下文",
    }
)

INPUT_LABELS = GENERIC_INPUT_LABELS | CONTENT_INPUT_LABELS

OUTPUT_LABELS = frozenset(
    {
        "output", "outputs", "a", "answer", "label", "labels", "sentiment", "category", "class",
        "summary", "translation", "result", "response", "target", "y", "emotion", "intent", "tag",
        "solution", "ausgabe", "antwort", "kategorie", "übersetzung", "zusammenfassung", "salida",
        "respuesta", "etiqueta", "categoría", "traducción", "resumen", "sortie", "réponse",
        "étiquette", "catégorie", "traduction", "résumé", "输出", "答案", "回答", "答", "标签",
        "类别", "翻译", "摘要", "出力",
    }
)

KNOWN_LABELS = INPUT_LABELS | OUTPUT_LABELS

# Headings in front of the instruction ("Task: classify ..."): removed from the instruction.
INSTRUCTION_HEADINGS = (
    "task description", "instructions", "instruction", "task", "anweisung", "anleitung", "aufgabe",
    "instrucciones", "instrucción", "instruccion", "tarea", "consigne", "tâche", "tache", "指令",
    "任务", "说明", "指示", "任務",
)

# Headings in front of demonstrations ("Example 2:", "### Examples"): never part of anything.
EXAMPLE_HEADINGS = (
    "examples", "example", "demonstrations", "demonstration", "samples", "sample", "beispiele",
    "beispiel", "ejemplos", "ejemplo", "exemples", "exemple", "示例", "例子", "样例", "範例", "例",
)


def mentions(label: str, words: frozenset[str]) -> bool:
    """Whether the casefolded `label` or one of its words is in `words` ("input text" -> "input")."""
    return label in words or any(word in words for word in label.split())
