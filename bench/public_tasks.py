"""Builds bench/quality.py's --data-dir: public labelled test sets that this project did not write.

Each task folder gets prompt.txt (an instruction and demonstrations drawn from the set's training
split), test.jsonl (100 rows of each label from the test split, labels taking turns so that the
first 40 rows, which the quick profile scores, hold every label about equally, and the rest give
`bench/rescore.py` a few hundred rows to tell a difference from a row's luck), train.jsonl (for
runs with --dataset) and SOURCE.md (where the rows come from and under which terms). The data
stays out of this repository; the sources are two public Git repositories, cloned by whoever runs the bench:

    git clone https://github.com/forest-snow/alps        # SST-2 and AG News (repository MIT)
    git clone https://github.com/cardiffnlp/xlm-t       # SB-10k German tweets (repository Apache-2.0)

Run: .venv/bin/python bench/public_tasks.py --alps alps --xlm-t xlm-t --out DIR
The rows chosen depend on nothing but the files: the same clones give the same folders.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

TEST_ROWS_PER_LABEL = 100
TRAIN_ROWS_PER_LABEL = 100
DEMONSTRATIONS_PER_LABEL = 2
# Demonstrations are what a user would pick: whole sentences, not fragments or bare links.
DEMONSTRATION_WORDS = (6, 40)
SEED = 0


@dataclass(frozen=True)
class PublicTask:
    """One public set: its instruction, its label names and how to read its splits."""

    name: str
    instruction: str
    labels: dict[str, str]  # label as stored in the source -> the answer the prompt asks for
    source: str  # SOURCE.md's text
    # The split that demonstrations and train.jsonl come from (alps ships AG News's train split
    # only through Git LFS; its dev split is carved from the original training data).
    train_split: str
    folder: str  # the split files' folder inside the source repository

    def rows(self, root: Path, split: str) -> list[tuple[str, str]]:
        raise NotImplementedError


class AlpsTask(PublicTask):
    """A tab-separated split of forest-snow/alps: text, then label (SST-2 has a header line)."""

    def rows(self, root: Path, split: str) -> list[tuple[str, str]]:
        with (root / self.folder / f"{split}.tsv").open(encoding="utf-8", newline="") as file:
            records = list(csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE))
        if records and records[0] == ["sentence", "label"]:
            records = records[1:]
        # AG News keeps the original's escaped line breaks ("\") and HTML entities ("#36;").
        return [(" ".join(text.replace("\\", " ").split()), label.strip()) for text, label in records]


class XlmtTask(PublicTask):
    """A split of cardiffnlp/xlm-t's German sentiment set: one tweet a line, labels in a twin file."""

    def rows(self, root: Path, split: str) -> list[tuple[str, str]]:
        folder = root / self.folder
        texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
        labels = (folder / f"{split}_labels.txt").read_text(encoding="utf-8").splitlines()
        if len(texts) != len(labels):
            raise SystemExit(f"{folder}: {len(texts)} {split} texts but {len(labels)} labels")
        return [(text.strip(), label.strip()) for text, label in zip(texts, labels, strict=True)]


TASKS = {
    "sentiment": AlpsTask(
        "sentiment",
        "Classify the sentiment of the movie review sentence: positive or negative.",
        {"1": "positive", "0": "negative"},
        "SST-2 (Socher et al. 2013), GLUE's dev split as `data/SST-2/test.tsv` of forest-snow/alps "
        "(repository MIT); demonstrations and train.jsonl from its `dev.tsv` (SST-2 training rows).",
        "dev",
        "data/SST-2",
    ),
    "topic": AlpsTask(
        "topic",
        "Classify the news article by its topic: World, Sports, Business or Sci/Tech.",
        {"World": "World", "Sports": "Sports", "Business": "Business", "Sci/Tech": "Sci/Tech"},
        "AG News (Zhang et al. 2015), `data/agnews/test.tsv` of forest-snow/alps (repository MIT; AG's "
        "corpus is for research use only); demonstrations and train.jsonl from its `dev.tsv`.",
        "dev",
        "data/agnews",
    ),
    "non_english": XlmtTask(
        "non_english",
        "Bestimme die Stimmung des Tweets: positiv, negativ oder neutral.",
        {"0": "negativ", "1": "neutral", "2": "positiv"},
        "SB-10k German tweets (Cieliebak et al. 2017), `data/sentiment/german/` of cardiffnlp/xlm-t "
        "(repository Apache-2.0; Twitter's terms apply to the tweets); demonstrations and train.jsonl "
        "from its train split.",
        "train",
        "data/sentiment/german",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alps", type=Path, help="A clone of github.com/forest-snow/alps.")
    parser.add_argument("--xlm-t", type=Path, help="A clone of github.com/cardiffnlp/xlm-t.")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    roots = {"sentiment": args.alps, "topic": args.alps, "non_english": args.xlm_t}
    if not any(roots.values()):
        parser.error("give --alps, --xlm-t or both")
    for name, task in TASKS.items():
        if roots[name] is not None:
            write_task(task, roots[name], args.out / name)
            print(f"{args.out / name}: written")


def write_task(task: PublicTask, root: Path, out: Path) -> None:
    """Writes one task's prompt.txt, test.jsonl, train.jsonl and SOURCE.md into `out`."""
    test = taking_turns(task, task.rows(root, "test"), TEST_ROWS_PER_LABEL)
    train_rows = task.rows(root, task.train_split)
    random.Random(SEED).shuffle(train_rows)
    fewest, most = DEMONSTRATION_WORDS
    sentences = [row for row in train_rows if fewest <= len(row[0].split()) <= most]
    demonstrations = taking_turns(task, sentences, DEMONSTRATIONS_PER_LABEL)
    shown = {text for text, _ in demonstrations}
    train = taking_turns(task, [row for row in train_rows if row[0] not in shown], TRAIN_ROWS_PER_LABEL)
    out.mkdir(parents=True, exist_ok=True)
    pairs = "".join(f"\n\nInput: {text}\nOutput: {label}" for text, label in demonstrations)
    (out / "prompt.txt").write_text(task.instruction + pairs + "\n", encoding="utf-8")
    for split, rows in (("test", test), ("train", train)):
        lines = [json.dumps({"input": text, "output": label}, ensure_ascii=False) for text, label in rows]
        (out / f"{split}.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    (out / "SOURCE.md").write_text(
        f"{task.source}\n\nWritten by `bench/public_tasks.py`: {len(test)} test rows "
        f"({TEST_ROWS_PER_LABEL} of each label, taking turns, in the split's order), {len(train)} "
        f"train rows and {len(demonstrations)} demonstrations (shuffled {task.train_split} split, "
        f"seed {SEED}, {fewest} to {most} words).\n",
        encoding="utf-8",
    )


def taking_turns(task: PublicTask, rows: list[tuple[str, str]], per_label: int) -> list[tuple[str, str]]:
    """The first `per_label` rows of each label, in the rows' order, one label after another in turn."""
    by_label: dict[str, list[tuple[str, str]]] = {label: [] for label in task.labels.values()}
    for text, stored in rows:
        label = task.labels.get(stored)
        if label is None:
            raise SystemExit(f"{task.name}: label {stored!r} is none of {', '.join(task.labels)}")
        if text and len(by_label[label]) < per_label:
            by_label[label].append((text, label))
    return [row for turn in zip_longest(*by_label.values()) for row in turn if row is not None]


if __name__ == "__main__":
    main()
