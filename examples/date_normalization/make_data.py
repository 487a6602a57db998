"""Writes train.jsonl and test.jsonl for the date normalisation example (deterministic).

Dates are drawn from disjoint year ranges so that no test date appears in training.
Run: python examples/date_normalization/make_data.py
"""

import datetime
import json
import random
from pathlib import Path

FORMATS = ("%B %d, %Y", "%d %B %Y", "%b %d %Y", "%m/%d/%Y", "%d.%m.%Y", "%A, %B %d, %Y")


def dates(rng: random.Random, years: range, count: int) -> list[dict[str, str]]:
    rows = []
    for _ in range(count):
        day = datetime.date(rng.choice(years), rng.randint(1, 12), rng.randint(1, 28))
        text = day.strftime(rng.choice(FORMATS)).replace(" 0", " ")
        rows.append({"input": text, "output": day.isoformat()})
    return rows


def write(path: Path, rows: list[dict[str, str]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


if __name__ == "__main__":
    here = Path(__file__).parent
    rng = random.Random(7)
    write(here / "train.jsonl", dates(rng, range(1950, 2000), 200))
    write(here / "test.jsonl", dates(rng, range(2000, 2030), 50))
