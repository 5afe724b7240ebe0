"""Synthetic (document, questions, answers) data for meta-training the Doc-to-LoRA hypernetwork.

Everything is generated locally from a seeded ``random.Random``, so a stream is reproducible and needs
no downloads. Two kinds of sample:

* ``needle``: the needle-in-a-haystack format of the upstream evaluation (a magic number hidden in
  repeated filler), which teaches the adapter to carry one exact string across any document length.
* ``facts``: short prose about a fictional entity, with distractor sentences, asked about in
  paraphrase, which teaches it to bind values to the right entity and attribute.

Answers are always drawn from an open vocabulary (made-up words, random numbers): with answers from a
small fixed list the network learns a lookup table instead of copying from the document. For honest
evaluation the ``heldout`` split shares no made-up word, sentence template or question phrasing with
``train``.
"""

from __future__ import annotations

import json
import math
import random
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

SPLITS = ("train", "heldout")


@dataclass(frozen=True)
class QA:
    """One question about a document and its short answer (1-4 words or a number)."""

    question: str
    answer: str


@dataclass(frozen=True)
class DocSample:
    """A document and the questions the adapter generated from it must answer."""

    document: str
    qas: tuple[QA, ...]
    kind: str  # "needle" or "facts"


def samples_to_json(samples: Sequence[DocSample]) -> str:
    """Samples as JSON text (questions lose any subclass: a sample's ``kind`` names them; a
    question's ``lead``, where it has one, is kept for `samples_from_json`'s ``make_qa``)."""
    return json.dumps([{"document": s.document, "kind": s.kind,
                        "qas": [{"question": qa.question, "answer": qa.answer}
                                | ({"lead": qa.lead} if getattr(qa, "lead", "") else {}) for qa in s.qas]}
                       for s in samples])


def samples_from_json(text: str, make_qa: Callable[[dict], QA] | None = None) -> list[DocSample]:
    """The samples `samples_to_json` wrote; ``make_qa`` rebuilds a question from its record
    (default: a plain `QA`)."""
    make = make_qa or (lambda q: QA(q["question"], q["answer"]))
    return [DocSample(r["document"], tuple(make(q) for q in r["qas"]), r["kind"]) for r in json.loads(text)]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def split_items(items: Sequence[str], split: str) -> tuple[str, ...]:
    """The templates or phrasings of ``items`` that belong to ``split``: every 4th one is held out.

    Assigning by position keeps the two splits disjoint for any list of four or more.
    """
    _check_split(split)
    return tuple(item for i, item in enumerate(items) if (i % 4 == 3) == (split == "heldout"))


# ---------------------------------------------------------------------------------------------------
# Open vocabulary

ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "kr", "st", "tr", "th")
VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")
CODAS = ("n", "r", "l", "m", "k", "th")  # no "s": names ending in s make awkward possessives


def word_split(word: str) -> str:
    """The split a made-up word belongs to, from a hash that is stable across processes and runs."""
    return "heldout" if zlib.crc32(word.lower().encode()) % 5 == 0 else "train"


def pseudo_word(rng: random.Random, split: str, syllables: tuple[int, int] = (2, 3)) -> str:
    """A capitalised made-up word such as "Velmora", resampled until it belongs to ``split``.

    Deciding the split by hashing the word itself (not by the draw) means a held-out name can never
    turn up in training data, whatever the seed.
    """
    _check_split(split)
    lo, hi = syllables
    if not 1 <= lo <= hi:
        raise ValueError(f"syllables must satisfy 1 <= low <= high, got {syllables}")
    while True:
        word = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(rng.randint(lo, hi)))
        if rng.random() < 0.3:
            word += rng.choice(CODAS)
        word = word.capitalize()
        if word_split(word) == split:
            return word


# Fixed lists below only ever decorate values or entity names; no answer is drawn from them alone.
TOWN_FORMS = ("{}", "Port {}", "New {}", "{} Falls", "{} Bay", "Upper {}")
COMPANY_SUFFIXES = ("Works", "Labs", "Industries", "Systems", "Group", "Foundry", "Collective")
PRODUCT_SUFFIXES = ("Pro", "Mini", "One", "Max", "Lite", "Go")
EVENT_NOUNS = ("Regatta", "Fair", "Marathon", "Festival", "Games", "Expo", "Carnival")
ROLE_NOUNS = ("Analyst", "Archivist", "Engineer", "Curator", "Navigator", "Inspector", "Steward", "Surveyor")
DISH_NOUNS = ("stew", "pie", "soup", "dumplings", "curry", "noodles", "salad", "bread")
LANDMARK_NOUNS = ("Tower", "Bridge", "Gate", "Lighthouse", "Abbey", "Market")
TROPHY_NOUNS = ("Cup", "Trophy", "Shield", "Medal", "Bowl")
ANIMALS = ("cat", "dog", "parrot", "tortoise", "ferret", "owl", "otter", "badger")

ValueFn = Callable[[random.Random, str], str]


def _word(rng: random.Random, split: str) -> str:
    return pseudo_word(rng, split)


def _person(rng: random.Random, split: str) -> str:
    return f"{pseudo_word(rng, split)} {pseudo_word(rng, split)}"


def _town(rng: random.Random, split: str) -> str:
    return rng.choice(TOWN_FORMS).format(pseudo_word(rng, split))


def _year(rng: random.Random, split: str) -> str:
    return str(rng.randint(1700, 2024))


def _number(lo: int, hi: int) -> ValueFn:
    return lambda rng, split: str(rng.randint(lo, hi))


def _named(nouns: Sequence[str]) -> ValueFn:
    """A made-up word followed by a common noun, e.g. "Velmora Tower": open, yet reads naturally."""
    return lambda rng, split: f"{pseudo_word(rng, split)} {rng.choice(nouns)}"


# ---------------------------------------------------------------------------------------------------
# Fact templates


@dataclass(frozen=True)
class Attribute:
    """One askable property: how to draw its value, how to state it and how to ask for it.

    Templates use ``{e}`` (entity), ``{v}`` (value) and ``{animal}``; questions use ``{e}``. Each
    template and phrasing is one sentence, and only persons take a possessive ("{e}'s"), since
    names like "Kestrin Works" do not.
    """

    value: ValueFn
    templates: tuple[str, ...]
    questions: tuple[str, ...]


@dataclass(frozen=True)
class EntityKind:
    """A type of fictional entity: how to name one and what can be said about it."""

    name: ValueFn
    attributes: Mapping[str, Attribute]


ENTITY_KINDS: dict[str, EntityKind] = {
    "person": EntityKind(
        _person,
        {
            "city": Attribute(
                _town,
                (
                    "{e} lives in {v}.",
                    "These days {e} makes a home in {v}.",
                    "{e} moved to {v} a few years ago and never left.",
                    "Home for {e} is the town of {v}.",
                ),
                (
                    "Where does {e} live?",
                    "Which town is {e}'s home?",
                    "In what town does {e} live now?",
                    "Where is {e}'s home?",
                ),
            ),
            "job": Attribute(
                _named(ROLE_NOUNS),
                (
                    "{e} holds the title of {v}.",
                    "The official job title of {e} is {v}.",
                    "At work, {e} goes by the title {v}.",
                    "The badge that {e} wears at work reads {v}.",
                ),
                (
                    "What is {e}'s job title?",
                    "What title does {e} hold at work?",
                    "Which job title does {e} have?",
                    "What is the official title of {e}'s job?",
                ),
            ),
            "pet": Attribute(
                _word,
                (
                    "{e} has a pet {animal} named {v}.",
                    "The {animal} that {e} keeps at home is called {v}.",
                    "Every morning {e} feeds a pet {animal} called {v}.",
                    "{e} adopted a {animal} and named it {v}.",
                ),
                (
                    "What is the name of {e}'s pet?",
                    "What is {e}'s pet called?",
                    "What name did {e} give the pet?",
                    "How is {e}'s pet named?",
                ),
            ),
            "dish": Attribute(
                _named(DISH_NOUNS),
                (
                    "{e}'s favourite dish is {v}.",
                    "Nothing makes {e} happier than a plate of {v}.",
                    "When eating out, {e} always orders {v}.",
                    "{e} says that {v} is the best dish in the world.",
                ),
                (
                    "What is {e}'s favourite dish?",
                    "Which dish does {e} like best?",
                    "What food does {e} love most?",
                    "What does {e} prefer to eat above all else?",
                ),
            ),
            "birth_year": Attribute(
                _year,
                (
                    "{e} was born in {v}.",
                    "The year of birth of {e} is {v}.",
                    "Records show that {e} came into the world in {v}.",
                    "Born in {v}, {e} grew up with two older siblings.",
                ),
                (
                    "In what year was {e} born?",
                    "What is {e}'s year of birth?",
                    "When was {e} born?",
                    "Which year was {e} born in?",
                ),
            ),
            "employer": Attribute(
                _named(COMPANY_SUFFIXES),
                (
                    "{e} works for {v}.",
                    "{e} is employed by {v}.",
                    "The employer of {e} is a firm called {v}.",
                    "Each weekday {e} commutes to the offices of {v}.",
                ),
                (
                    "Who employs {e}?",
                    "Which company does {e} work for?",
                    "What is the name of {e}'s employer?",
                    "For which firm does {e} work?",
                ),
            ),
        },
    ),
    "company": EntityKind(
        _named(COMPANY_SUFFIXES),
        {
            "founder": Attribute(
                _person,
                (
                    "{e} was founded by {v}.",
                    "{v} founded {e}.",
                    "The founder of {e} is {v}.",
                    "{e} began as a side project of {v}.",
                ),
                (
                    "Who founded {e}?",
                    "Who is the founder of {e}?",
                    "Which person started {e}?",
                    "Who set up {e}?",
                ),
            ),
            "headquarters": Attribute(
                _town,
                (
                    "{e} has its headquarters in {v}.",
                    "The head office of {e} is in {v}.",
                    "{e} is headquartered in {v}.",
                    "{e} runs everything from a head office in {v}.",
                ),
                (
                    "Where is {e} headquartered?",
                    "In which town is the head office of {e}?",
                    "Where are the headquarters of {e}?",
                    "Which town hosts the head office of {e}?",
                ),
            ),
            "product": Attribute(
                _word,
                (
                    "{e} is best known for a product called {v}.",
                    "The flagship product of {e} is the {v}.",
                    "Most of the revenue of {e} comes from sales of {v}.",
                    "Customers buy {v} from {e} more than anything else.",
                ),
                (
                    "What is the flagship product of {e}?",
                    "Which product is {e} best known for?",
                    "What product does {e} mainly sell?",
                    "What is the best-selling product of {e}?",
                ),
            ),
            "founding_year": Attribute(
                _year,
                (
                    "{e} was founded in {v}.",
                    "The company {e} opened for business in {v}.",
                    "{e} has been trading since {v}.",
                    "In {v}, {e} registered as a company.",
                ),
                (
                    "When was {e} founded?",
                    "In what year was {e} founded?",
                    "Since which year has {e} been in business?",
                    "What is the founding year of {e}?",
                ),
            ),
            "ceo": Attribute(
                _person,
                (
                    "The chief executive of {e} is {v}.",
                    "{v} runs {e} as its CEO.",
                    "{e} is led by its CEO, {v}.",
                    "Since last spring, {v} has been the CEO of {e}.",
                ),
                (
                    "Who is the CEO of {e}?",
                    "Who runs {e}?",
                    "Who is the chief executive of {e}?",
                    "Which person leads {e} as CEO?",
                ),
            ),
            "mascot": Attribute(
                _word,
                (
                    "The mascot of {e} is a cartoon {animal} named {v}.",
                    "{e} uses a smiling {animal} called {v} as its mascot.",
                    "Every advert by {e} features its mascot, {v} the {animal}.",
                    "A {animal} named {v} serves as the mascot of {e}.",
                ),
                (
                    "What is the name of the mascot of {e}?",
                    "What is the mascot of {e} called?",
                    "Which mascot does {e} use?",
                    "Who is the mascot of {e}?",
                ),
            ),
            "employees": Attribute(
                _number(20, 90000),
                (
                    "{e} employs {v} people.",
                    "The payroll of {e} lists {v} staff.",
                    "A total of {v} people work at {e}.",
                    "{e} has a workforce of {v}.",
                ),
                (
                    "How many people does {e} employ?",
                    "How many staff work at {e}?",
                    "What is the size of the workforce at {e}?",
                    "How many employees does {e} have?",
                ),
            ),
        },
    ),
    "place": EntityKind(
        _town,
        {
            "river": Attribute(
                _word,
                (
                    "The river that runs through {e} is called the {v}.",
                    "{e} sits on the banks of the river {v}.",
                    "The river {v} flows through the middle of {e}.",
                    "In summer, children in {e} swim in the river {v}.",
                ),
                (
                    "Which river runs through {e}?",
                    "What is the name of the river in {e}?",
                    "On which river does {e} sit?",
                    "What river flows through {e}?",
                ),
            ),
            "mayor": Attribute(
                _person,
                (
                    "The mayor of {e} is {v}.",
                    "{v} was elected mayor of {e}.",
                    "{e} is governed by its mayor, {v}.",
                    "Since the last election, {v} has served as mayor of {e}.",
                ),
                (
                    "Who is the mayor of {e}?",
                    "Who governs {e} as mayor?",
                    "Which person is mayor of {e}?",
                    "Who was elected mayor of {e}?",
                ),
            ),
            "population": Attribute(
                _number(300, 900000),
                (
                    "{e} has a population of {v}.",
                    "About {v} people live in {e}.",
                    "The last census counted {v} residents in {e}.",
                    "{e} is home to {v} inhabitants.",
                ),
                (
                    "What is the population of {e}?",
                    "How many people live in {e}?",
                    "How many residents does {e} have?",
                    "How many inhabitants does {e} have?",
                ),
            ),
            "settled_year": Attribute(
                _year,
                (
                    "{e} was settled in {v}.",
                    "The first houses in {e} were built in {v}.",
                    "Settlers arrived in {e} in {v}.",
                    "{e} dates back to {v}.",
                ),
                (
                    "When was {e} settled?",
                    "In what year was {e} settled?",
                    "When were the first houses in {e} built?",
                    "What year does {e} date back to?",
                ),
            ),
            "twin_town": Attribute(
                _town,
                (
                    "{e} is twinned with {v}.",
                    "The twin town of {e} is {v}.",
                    "Every year {e} sends a delegation to its twin town, {v}.",
                    "Signs at the edge of {e} name {v} as its twin town.",
                ),
                (
                    "Which town is {e} twinned with?",
                    "What is the twin town of {e}?",
                    "With which town is {e} twinned?",
                    "Name the twin town of {e}.",
                ),
            ),
            "landmark": Attribute(
                _named(LANDMARK_NOUNS),
                (
                    "The most famous landmark in {e} is {v}.",
                    "Tourists come to {e} mainly to see {v}.",
                    "Postcards from {e} usually show {v}.",
                    "Everyone who visits {e} stops at {v}.",
                ),
                (
                    "What is the most famous landmark in {e}?",
                    "Which landmark do tourists visit in {e}?",
                    "What do postcards from {e} usually show?",
                    "What is the best-known sight in {e}?",
                ),
            ),
        },
    ),
    "product": EntityKind(
        lambda rng, split: f"{pseudo_word(rng, split)} {rng.choice(PRODUCT_SUFFIXES)}",
        {
            "maker": Attribute(
                _named(COMPANY_SUFFIXES),
                (
                    "The {e} is made by {v}.",
                    "{v} manufactures the {e}.",
                    "The maker of the {e} is {v}.",
                    "Every {e} rolls off the assembly line at {v}.",
                ),
                (
                    "Who makes the {e}?",
                    "Which company manufactures the {e}?",
                    "Who is the maker of the {e}?",
                    "Which firm produces the {e}?",
                ),
            ),
            "designer": Attribute(
                _person,
                (
                    "The {e} was designed by {v}.",
                    "{v} designed the {e}.",
                    "The designer of the {e} is {v}.",
                    "The {e} started as a sketch by {v}.",
                ),
                (
                    "Who designed the {e}?",
                    "Who is the designer of the {e}?",
                    "Which person designed the {e}?",
                    "Whose design is the {e}?",
                ),
            ),
            "launch_year": Attribute(
                _year,
                (
                    "The {e} was launched in {v}.",
                    "The {e} first went on sale in {v}.",
                    "Shops began stocking the {e} in {v}.",
                    "The {e} came onto the market in {v}.",
                ),
                (
                    "When was the {e} launched?",
                    "In what year did the {e} go on sale?",
                    "What is the launch year of the {e}?",
                    "Which year did the {e} come onto the market?",
                ),
            ),
            "price": Attribute(
                _number(5, 9000),
                (
                    "The {e} costs {v} dollars.",
                    "The price of the {e} is {v} dollars.",
                    "Shops sell the {e} for {v} dollars.",
                    "A new {e} will set you back {v} dollars.",
                ),
                (
                    "How many dollars does the {e} cost?",
                    "What is the price of the {e} in dollars?",
                    "For how many dollars is the {e} sold?",
                    "How much does the {e} cost, in dollars?",
                ),
            ),
            "codename": Attribute(
                _word,
                (
                    "During development the {e} had the codename {v}.",
                    "The internal codename of the {e} was {v}.",
                    "Engineers called the {e} by the codename {v}.",
                    "Before launch, the {e} was known only as {v}.",
                ),
                (
                    "What was the codename of the {e}?",
                    "Which codename did the {e} have during development?",
                    "What did engineers call the {e} before launch?",
                    "What was the internal codename of the {e}?",
                ),
            ),
            "factory": Attribute(
                _town,
                (
                    "The {e} is built in a factory in {v}.",
                    "Every {e} is assembled in {v}.",
                    "The factory that builds the {e} is in {v}.",
                    "Production of the {e} takes place in {v}.",
                ),
                (
                    "Where is the {e} built?",
                    "In which town is the {e} assembled?",
                    "Where is the factory that builds the {e}?",
                    "Where does production of the {e} take place?",
                ),
            ),
        },
    ),
    "event": EntityKind(
        _named(EVENT_NOUNS),
        {
            "host": Attribute(
                _town,
                (
                    "The {e} is held in {v}.",
                    "Every year {v} hosts the {e}.",
                    "The {e} takes place in {v}.",
                    "Crowds travel to {v} for the {e}.",
                ),
                (
                    "Where is the {e} held?",
                    "Which town hosts the {e}?",
                    "Where does the {e} take place?",
                    "To which town do crowds travel for the {e}?",
                ),
            ),
            "first_year": Attribute(
                _year,
                (
                    "The {e} was first held in {v}.",
                    "The first {e} took place in {v}.",
                    "The {e} has run every year since {v}.",
                    "The history of the {e} goes back to {v}.",
                ),
                (
                    "When was the {e} first held?",
                    "In what year did the first {e} take place?",
                    "Since which year has the {e} been running?",
                    "How far back does the history of the {e} go?",
                ),
            ),
            "winner": Attribute(
                _person,
                (
                    "The last {e} was won by {v}.",
                    "{v} won the most recent {e}.",
                    "The reigning champion of the {e} is {v}.",
                    "At the last {e}, victory went to {v}.",
                ),
                (
                    "Who won the last {e}?",
                    "Who is the reigning champion of the {e}?",
                    "Who won the most recent {e}?",
                    "Which person won the {e} last time?",
                ),
            ),
            "organiser": Attribute(
                _person,
                (
                    "The {e} is organised by {v}.",
                    "{v} organises the {e}.",
                    "The organiser of the {e} is {v}.",
                    "Behind the {e} stands its organiser, {v}.",
                ),
                (
                    "Who organises the {e}?",
                    "Who is the organiser of the {e}?",
                    "Which person organises the {e}?",
                    "Who is behind the {e}?",
                ),
            ),
            "attendance": Attribute(
                _number(50, 250000),
                (
                    "The {e} draws {v} visitors.",
                    "Attendance at the {e} reached {v}.",
                    "A crowd of {v} came to the {e}.",
                    "Organisers counted {v} guests at the {e}.",
                ),
                (
                    "How many visitors does the {e} draw?",
                    "What was the attendance at the {e}?",
                    "How big was the crowd at the {e}?",
                    "How many guests came to the {e}?",
                ),
            ),
            "prize": Attribute(
                _named(TROPHY_NOUNS),
                (
                    "The winner of the {e} receives the {v}.",
                    "The prize at the {e} is the {v}.",
                    "Whoever wins the {e} takes home the {v}.",
                    "The {e} awards its champion the {v}.",
                ),
                (
                    "What does the winner of the {e} receive?",
                    "What is the prize at the {e}?",
                    "What does the champion of the {e} take home?",
                    "Which prize is awarded at the {e}?",
                ),
            ),
        },
    ),
}

MAX_FACTS = min(len(kind.attributes) for kind in ENTITY_KINDS.values())

# Bland sentences that mention no entity and no value: distractors that can never hold an answer.
FILLER_FACTS = (
    "The weather that week was mild and grey.",
    "Nobody can quite agree on when the old road was first paved.",
    "Local newspapers covered the story for a few days.",
    "Most visitors arrive by train in the late afternoon.",
    "The nearby hills are popular with walkers in spring.",
    "A small bakery on the corner opens before sunrise.",
    "Archives from that period are patchy at best.",
    "Prices in the area have risen steadily over the years.",
    "Several neighbours describe the area as quiet.",
    "The annual report mentions this only in passing.",
    "Many people remember the long winter that followed.",
    "There is a bus stop just outside the main entrance.",
)


def _state(rng: random.Random, split: str, attribute: Attribute, entity: str) -> tuple[str, QA]:
    """Draw a value for ``attribute`` of ``entity``; return the sentence stating it and its QA."""
    value = attribute.value(rng, split)
    template = rng.choice(split_items(attribute.templates, split))
    question = rng.choice(split_items(attribute.questions, split))
    sentence = template.format(e=entity, v=value, animal=rng.choice(ANIMALS))
    return sentence, QA(question.format(e=entity), value)


def _distractors(rng: random.Random, split: str, n: int) -> list[str]:
    """``n`` sentences that answer nothing: generic filler, or facts about another made-up entity.

    Facts about another entity are the hard case: same sentence shapes, same attributes, wrong
    entity, so the adapter must bind values to names rather than memorise "the year in the text".
    """
    kind = ENTITY_KINDS[rng.choice(tuple(ENTITY_KINDS))]
    other = kind.name(rng, split)
    attributes = rng.sample(tuple(kind.attributes.values()), len(kind.attributes))
    sentences = []
    for _ in range(n):
        if attributes and rng.random() < 0.5:
            sentences.append(_state(rng, split, attributes.pop(), other)[0])
        else:
            sentences.append(rng.choice(FILLER_FACTS))
    return sentences


def fact_sample(rng: random.Random, split: str, n_facts: int = 3, n_distractors: int = 3) -> DocSample:
    """A short document stating ``n_facts`` facts about one fictional entity, among distractors.

    One QA per fact. A draw in which an answer would be ambiguous (it shows up in more than one
    sentence, or inside the entity's name) is redrawn, so each answer points at exactly one sentence.
    """
    _check_split(split)
    if not 1 <= n_facts <= MAX_FACTS:
        raise ValueError(f"n_facts must be in [1, {MAX_FACTS}], got {n_facts}")
    if n_distractors < 0:
        raise ValueError(f"n_distractors must be >= 0, got {n_distractors}")
    while True:
        kind = ENTITY_KINDS[rng.choice(tuple(ENTITY_KINDS))]
        entity = kind.name(rng, split)
        facts = [_state(rng, split, a, entity) for a in rng.sample(tuple(kind.attributes.values()), n_facts)]
        distractors = _distractors(rng, split, n_distractors)
        sentences = [s for s, _ in facts] + distractors
        answers = [qa.answer for _, qa in facts]
        if all(a not in entity and sum(a in s for s in sentences) == 1 for a in answers) and not any(
            entity in d for d in distractors
        ):
            break
    rng.shuffle(sentences)
    return DocSample(" ".join(sentences), tuple(qa for _, qa in facts), "facts")


def multi_fact_sample(
    rng: random.Random, split: str, entities: int, n_facts: int | None = None, n_distractors: int | None = None
) -> DocSample:
    """``entities`` fact documents (``n_facts`` facts and ``n_distractors`` distractors each; None:
    1-4, drawn per entity) run together; every question is asked. One entity's facts are the easy
    case: with two entities in a document the shipped network's exact match halves, and with four
    it is near zero (BENCHMARKS.md, "Several entities per document").

    A draw in which an answer appears more than once, or two questions read the same, is redrawn.
    """
    if entities < 1:
        raise ValueError(f"entities must be >= 1, got {entities}")
    while True:
        parts = [fact_sample(rng, split, rng.randint(1, 4) if n_facts is None else n_facts,
                             rng.randint(1, 4) if n_distractors is None else n_distractors) for _ in range(entities)]
        document = " ".join(p.document for p in parts)
        qas = tuple(qa for p in parts for qa in p.qas)
        if all(document.count(qa.answer) == 1 for qa in qas) and len({qa.question for qa in qas}) == len(qas):
            return DocSample(document, qas, "facts")


# ---------------------------------------------------------------------------------------------------
# Needle in a haystack (upstream NIAH format)

HAYSTACK_SENTENCES = (
    "The grass is green.",
    "The sky is blue.",
    "The sun is yellow.",
    "Here we go.",
    "There and back again.",
)
NEEDLE_TEMPLATE = "The special magic number is {}."
NEEDLE_QUESTION = "What is the special magic number? Reply with only the number."
NEEDLE_DEPTHS = tuple(i / 9 for i in range(10))


def _fewest(fits: Callable[[int], bool], guess: int) -> int:
    """The smallest n >= 0 with ``fits(n)``, for monotone ``fits``, in O(log n) calls around a guess.

    Gallops away from the guess with doubling steps until the answer is bracketed, then bisects, so a
    good guess costs a handful of calls and a bad one only logarithmically more.
    """
    step = 1
    if fits(guess):
        hi = guess
        while True:
            lo = hi - step
            if lo < 0:
                lo = -1  # n = 0 fits: nothing below it to test
                break
            if not fits(lo):
                break
            hi, step = lo, step * 2
    else:
        lo = guess
        while not fits(hi := lo + step):
            lo, step = hi, step * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid
    return hi


def needle_sample(
    rng: random.Random,
    split: str,
    haystack_tokens: int,
    count_tokens: Callable[[str], int],
    depth: float | None = None,
) -> DocSample:
    """A magic number hidden at relative ``depth`` in filler of at least ``haystack_tokens`` tokens.

    The haystack is the fewest filler sentences that bring the whole document to the target. One
    measurement gives a chars-per-token estimate for a first guess, then a galloping search fixes
    it, so a long haystack costs O(log n) tokenizer calls rather than one per sentence. ``split`` is
    accepted for a uniform interface: needle numbers are random in either split.
    """
    _check_split(split)
    if depth is None:
        depth = rng.choice(NEEDLE_DEPTHS)
    if not 0.0 <= depth <= 1.0:
        raise ValueError(f"depth must be in [0, 1], got {depth}")
    number = str(rng.randint(1000, 9999))
    needle = NEEDLE_TEMPLATE.format(number)
    offset = rng.randrange(len(HAYSTACK_SENTENCES))

    def build(n: int) -> str:
        filler = [HAYSTACK_SENTENCES[(offset + i) % len(HAYSTACK_SENTENCES)] for i in range(n)]
        at = round(depth * n)
        return " ".join([*filler[:at], needle, *filler[at:]])

    probe = " ".join([*HAYSTACK_SENTENCES, needle])
    chars_per_token = len(probe) / max(1, count_tokens(probe))
    mean_sentence_chars = sum(len(s) + 1 for s in HAYSTACK_SENTENCES) / len(HAYSTACK_SENTENCES)
    guess = max(0, math.ceil((haystack_tokens * chars_per_token - len(needle)) / mean_sentence_chars))
    n = _fewest(lambda k: count_tokens(build(k)) >= haystack_tokens, guess)
    return DocSample(build(n), (QA(NEEDLE_QUESTION, number),), "needle")


# ---------------------------------------------------------------------------------------------------
# Mixed stream


def sample_stream(
    seed: int,
    split: str,
    mix: dict[str, float],
    count_tokens: Callable[[str], int],
    haystack_tokens: tuple[int, int] = (64, 256),
    fact_entities: int = 1,
) -> Iterator[DocSample]:
    """An endless, reproducible stream mixing sample kinds by weight.

    Fact documents vary in size (1-4 facts, 1-4 distractors) so the hypernetwork sees both sparse
    and crowded documents rather than one fixed layout; with ``fact_entities`` above 1 they hold
    1..fact_entities entities (`multi_fact_sample`).
    """
    _check_split(split)
    unknown = set(mix) - {"needle", "facts"}
    if unknown:
        raise ValueError(f"unknown sample kinds in mix: {sorted(unknown)}")
    if any(w < 0 for w in mix.values()) or sum(mix.values()) <= 0:
        raise ValueError(f"mix weights must be >= 0 with a positive sum, got {mix}")
    rng = random.Random(seed)
    kinds, weights = list(mix), list(mix.values())
    while True:
        if rng.choices(kinds, weights)[0] == "needle":
            yield needle_sample(rng, split, rng.randint(*haystack_tokens), count_tokens)
        elif fact_entities > 1:
            yield multi_fact_sample(rng, split, rng.randint(1, fact_entities))
        else:
            yield fact_sample(rng, split, rng.randint(1, 4), rng.randint(1, 4))

