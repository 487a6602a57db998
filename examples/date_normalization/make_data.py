"""Writes train.jsonl and test.jsonl for the date normalisation example (deterministic).

Years run from 1900 to 2099 in both files, but every fifth year (1903, 1908, ...) is kept for
the test file and never drawn for training, so no test date (not even its year) appears in
training, while train and test come from the same range. An earlier version trained on
1950-1999 and tested on 2000-2029: a student fine-tuned on it learnt that every year starts
with "19" and scored 0 exact match (docs/BENCHMARKS.md, Quality).
Run: .venv/bin/python examples/date_normalization/make_data.py
"""

import datetime
import random
from pathlib import Path

from p2m_lib.stages import write_jsonl

FORMATS = ("%B %d, %Y", "%d %B %Y", "%b %d %Y", "%m/%d/%Y", "%d.%m.%Y", "%A, %B %d, %Y")
TEST_YEARS = [year for year in range(1900, 2100) if year % 5 == 3]
TRAIN_YEARS = [year for year in range(1900, 2100) if year % 5 != 3]


def dates(rng: random.Random, years: list[int], count: int) -> list[dict[str, str]]:
    rows = []
    for _ in range(count):
        day = datetime.date(rng.choice(years), rng.randint(1, 12), rng.randint(1, 28))
        text = day.strftime(rng.choice(FORMATS)).replace(" 0", " ")
        rows.append({"input": text, "output": day.isoformat()})
    return rows


if __name__ == "__main__":
    here = Path(__file__).parent
    rng = random.Random(7)
    write_jsonl(here / "train.jsonl", dates(rng, TRAIN_YEARS, 200))
    write_jsonl(here / "test.jsonl", dates(rng, TEST_YEARS, 50))
