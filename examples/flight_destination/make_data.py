"""Writes train.jsonl and test.jsonl for the flight destination example (deterministic).

Each input is a short travel message naming three cities, the origin, the destination and a
distractor (a layover, a cancelled trip, where family lives), in one of twelve phrasings, with a
date and sometimes an airline; the output is the destination city. Train and test use disjoint sets of
cities, so no test city was seen in training and no test input appears in training.
Run: .venv/bin/python examples/flight_destination/make_data.py
"""

import random
from pathlib import Path

from p2m_lib.stages import write_jsonl

CITIES = (
    "Boston", "Denver", "Chicago", "Seattle", "Atlanta", "Houston", "Phoenix", "Dallas",
    "Miami", "Portland", "Detroit", "Nashville", "Austin", "Orlando", "Pittsburgh", "Cleveland",
    "Baltimore", "Memphis", "Tucson", "Sacramento", "Omaha", "Raleigh", "Tampa", "Honolulu",
    "Anchorage", "Boise", "Richmond", "Milwaukee", "Albuquerque", "Louisville",
    "London", "Paris", "Madrid", "Lisbon", "Berlin", "Vienna", "Prague", "Dublin",
    "Oslo", "Helsinki", "Warsaw", "Athens", "Rome", "Zurich", "Brussels", "Amsterdam",
    "Tokyo", "Seoul", "Singapore", "Bangkok", "Sydney", "Auckland", "Toronto", "Montreal",
    "Vancouver", "Mexico City", "Lima", "Santiago", "Bogota", "Cairo", "Nairobi", "Istanbul",
)
AIRLINES = ("Delta", "United", "Lufthansa", "Air France", "KLM", "Emirates", "Qantas", "Iberia")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
TEMPLATES = (
    "Book me a flight from {origin} to {destination} with a layover in {other} on {date}.",
    "I'm in {origin} right now and need to get to {destination} by {date}; "
    "connecting through {other} is fine.",
    "Flying {airline} {origin} -> {other} -> {destination} on {date}.",
    "Please find a ticket to {destination}. I leave from {origin} on {date} "
    "and would rather not stop in {other}.",
    "Get me out of {origin} on {date}. {destination} is where I need to be, stopping over in {other}.",
    "Trip on {date}: start in {origin}, change planes in {other}, end in {destination}.",
    "Cancel my {other} trip and book {origin} to {destination} for {date} instead.",
    "I want to go to {destination}, not {other}, leaving {origin} on {date}.",
    "My family lives in {other}, but this time I fly from {origin} to {destination} on {date}.",
    "{airline} had nothing from {origin} to {other}, so book {origin} to {destination} on {date}.",
    "Arriving in {destination} on {date}, departing from {origin}, with a short stop in {other}.",
    "Need a seat on the {date} {airline} flight that leaves {origin} for {destination} via {other}.",
)


def messages(rng: random.Random, cities: list[str], count: int, seen: set[str]) -> list[dict[str, str]]:
    rows = []
    while len(rows) < count:
        origin, destination, other = rng.sample(cities, 3)
        text = rng.choice(TEMPLATES).format(
            origin=origin,
            destination=destination,
            other=other,
            airline=rng.choice(AIRLINES),
            date=f"{rng.choice(MONTHS)} {rng.randint(1, 28)}",
        )
        if text not in seen:
            seen.add(text)
            rows.append({"input": text, "output": destination})
    return rows


if __name__ == "__main__":
    here = Path(__file__).parent
    rng = random.Random(11)
    cities = list(CITIES)
    rng.shuffle(cities)
    test_cities, train_cities = cities[:16], cities[16:]
    seen: set[str] = set()
    write_jsonl(here / "train.jsonl", messages(rng, train_cities, 200, seen))
    write_jsonl(here / "test.jsonl", messages(rng, test_cities, 50, seen))
