"""Generated long conversations: facts stated early, asked late, distractor turns between.

The user states facts in the first turns ("My locker code is 4417."), then the conversation runs
on with small talk that never repeats them; the questions come at the end. Names and codes are
drawn from the held-out open vocabulary (`synthetic.pseudo_word`), so no model knows them
beforehand. Used by the long-conversation benchmark (BENCHMARKS.md, "Long conversations").
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from lora_memory.data.synthetic import QA, pseudo_word

# (statement, question); {} is the value: a made-up word or a number
FACTS = (
    ("My sister is called {}.", "What is my sister called?", "word"),
    ("My locker code is {}.", "What is my locker code?", "number"),
    ("My cat's name is {}.", "What is my cat's name?", "word"),
    ("I grew up in a village called {}.", "What is the village I grew up in called?", "word"),
    ("My boss is named {}.", "What is my boss named?", "word"),
    ("I parked the car on level {}.", "On which level did I park the car?", "number"),
    ("The wifi password at home is {}.", "What is the wifi password at home?", "word"),
    ("My gym membership number is {}.", "What is my gym membership number?", "number"),
)
SMALL_TALK = (
    "I had {} soup for lunch today.",
    "The weather turned grey again this afternoon.",
    "I read an article about a band called {}.",
    "Can you suggest a name for a boat? Something like {}.",
    "Traffic was slow on the way home.",
    "I am thinking about learning to paint.",
    "A shop called {} opened down the street.",
    "My neighbour plays the piano every evening.",
)
REPLIES = ("Noted.", "Sounds good.", "That is nice to hear.", "I see.", "Thanks for telling me.")


@dataclass(frozen=True)
class Conversation:
    """Turns ``(role, text)``, oldest first, and the questions about its early facts.

    Attributes:
        turns: user and assistant turns alternating, starting with the user.
        qas: one question per fact, with its answer.
        fact_turns: the index in ``turns`` where each fact is stated.
    """

    turns: tuple[tuple[str, str], ...]
    qas: tuple[QA, ...]
    fact_turns: tuple[int, ...]


def _value(rng: random.Random, kind: str) -> str:
    return str(rng.randint(1000, 9999)) if kind == "number" else pseudo_word(rng, "heldout")


def long_conversation(rng: random.Random, turns: int, facts: int = len(FACTS)) -> Conversation:
    """A conversation of ``turns`` turns whose first ``facts`` user turns state one fact each."""
    if not 1 <= facts <= len(FACTS) or turns < 2 * facts:
        raise ValueError(f"need 1 <= facts <= {len(FACTS)} and turns >= 2 * facts, got {facts} facts, {turns} turns")
    chosen = rng.sample(FACTS, facts)
    out: list[tuple[str, str]] = []
    qas, fact_turns = [], []
    for statement, question, kind in chosen:
        value = _value(rng, kind)
        fact_turns.append(len(out))
        out += [("user", statement.format(value)), ("assistant", rng.choice(REPLIES))]
        qas.append(QA(question, value))
    while len(out) < turns:
        out += [("user", rng.choice(SMALL_TALK).format(pseudo_word(rng, "heldout"))), ("assistant", rng.choice(REPLIES))]
    return Conversation(tuple(out[:turns]), tuple(qas), tuple(fact_turns))
