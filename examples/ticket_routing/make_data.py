"""Writes train.jsonl and test.jsonl for the support ticket routing example (deterministic).

Each input is a customer message: one of a team's twelve phrasings of a problem (with a product
name), with an optional opener and closer shared by all teams; the output is the team it goes
to: billing, delivery, technical or account. Nine phrasings per team make the training file and
the other three the test file, so a test message is never a training message with other
details: the student must generalise to new wordings.
Run: .venv/bin/python examples/ticket_routing/make_data.py
"""

import random
from pathlib import Path

from p2m_lib.stages import write_jsonl

PRODUCTS = ("router", "headphones", "blender", "smart watch", "coffee maker", "keyboard",
            "camera", "vacuum", "printer", "speaker", "monitor", "e-reader")
# Twelve phrasings per team; the last three of each are kept for the test file (see below).
TOPICS = {
    "billing": (
        "I was charged twice for my {product} order.",
        "My invoice shows the wrong price for the {product}.",
        "Why did my card get billed again this month?",
        "The discount code was not applied to my {product} purchase.",
        "I see a payment I don't recognise on my statement.",
        "Can I get a copy of the receipt for the {product}?",
        "My subscription fee went up without notice.",
        "The refund for the {product} never reached my bank account.",
        "Please update the credit card you charge every month.",
        "You billed me for the {product} but I cancelled that order.",
        "The tax on my last invoice looks far too high.",
        "I paid for express shipping on the {product} and want that money back.",
    ),
    "delivery": (
        "My {product} still hasn't arrived after two weeks.",
        "The tracking page for my {product} has not updated since Monday.",
        "The courier left the {product} at the wrong address.",
        "The box with my {product} arrived crushed.",
        "Can I change the shipping address for my {product} order?",
        "The package was marked delivered but I never got it.",
        "Only half of my {product} order came in the parcel.",
        "When will my {product} be dispatched?",
        "The driver never rang the bell and took the {product} back to the depot.",
        "Can the {product} be delivered on Saturday instead?",
        "My parcel with the {product} is stuck in customs.",
        "The {product} was sent to my old flat.",
    ),
    "technical": (
        "My {product} won't turn on anymore.",
        "The {product} keeps disconnecting from Wi-Fi.",
        "After the update my {product} shows an error code.",
        "The app crashes whenever I try to pair the {product}.",
        "The {product} makes a loud noise and then stops working.",
        "How do I reset the {product} to factory settings?",
        "The battery of my {product} drains in an hour.",
        "The screen on my {product} flickers constantly.",
        "Bluetooth can't find the {product} at all.",
        "The {product} gets very hot after a few minutes.",
        "The firmware update for the {product} fails at 50 percent.",
        "The buttons on the {product} stopped responding.",
    ),
    "account": (
        "I can't log in to my account.",
        "How do I change the email address on my profile?",
        "I never received the password reset email.",
        "Please delete my account and my data.",
        "Someone else may have accessed my account.",
        "I want to merge my two accounts into one.",
        "The two-factor code never arrives on my phone.",
        "How can I update my username?",
        "My account was locked after too many sign-in attempts.",
        "I'd like to unsubscribe from all marketing emails on my profile.",
        "The website says my email is already registered, but I never signed up.",
        "How do I add my partner as a second user on my account?",
    ),
}
HELD_OUT = 3
OPENERS = ("", "Hi, ", "Hello team, ", "Urgent: ", "Quick question. ", "Not happy. ")
CLOSERS = ("", " Thanks.", " Please help.", " This is the second time I'm writing.",
           " I ordered the {product} last month.", " Order #{number}.")


def tickets(rng: random.Random, count: int, seen: set[str], test: bool) -> list[dict[str, str]]:
    """`count` unique messages, as many per team, from the team's training or held-out phrasings."""
    rows = []
    labels = list(TOPICS)
    while len(rows) < count:
        label = labels[len(rows) % len(labels)]
        bodies = TOPICS[label][-HELD_OUT:] if test else TOPICS[label][:-HELD_OUT]
        product = rng.choice(PRODUCTS)
        text = (rng.choice(OPENERS) + rng.choice(bodies) + rng.choice(CLOSERS)).format(
            product=product, number=rng.randint(10000, 99999)
        )
        if text not in seen:
            seen.add(text)
            rows.append({"input": text, "output": label})
    rng.shuffle(rows)
    return rows


if __name__ == "__main__":
    here = Path(__file__).parent
    rng = random.Random(5)
    seen: set[str] = set()
    write_jsonl(here / "train.jsonl", tickets(rng, 200, seen, test=False))
    write_jsonl(here / "test.jsonl", tickets(rng, 48, seen, test=True))
