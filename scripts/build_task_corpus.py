#!/usr/bin/env python
"""Build the Text-to-LoRA task corpus shipped as ``lora_memory/data/task_corpus.json.gz``.

Two sources:

* **BIG-bench** JSON tasks, read from the ``bigbench`` PyPI *source* distribution (Apache-2.0). Only
  English tasks with short answers that a 135M-parameter model can produce are used: fixed-label
  classification, multiple choice with short options, and single word / number answers. Tasks with
  long generations, code, non-English text or offensive content are left out, as are tasks that
  repackage third-party datasets under other licences (FEVER, VitaminC, SNIPS, Social IQa, ...).
* **Procedural** tasks generated here: string transforms, formatting, extraction, arithmetic and
  keyword-rule classification. Inputs come from an open vocabulary (made-up words, random numbers),
  so answers must be computed, never memorised; evaluation examples use made-up words from the
  held-out half of :func:`lora_memory.data.synthetic.word_split`, which training examples never use.
  Tasks of one family share an input format (a bare word, "37 48", a list of numbers), so only the
  description says which transform to apply.

Every task gets 32 training descriptions and 3 evaluation descriptions. Descriptions combine
task-specific action phrases ("reverse the letters of the word") with generic frames ("Given {input},
{action}. {format}") and output-format hints; the last two action phrases, the last two format hints and
three frames are reserved for evaluation, so an evaluation description never shares its (action, frame,
format) with a training one. BIG-bench tasks also keep their own description (with a format hint).

Held-out tasks (never trained on) are chosen deterministically: within each (group, kind) cell
(BIG-bench label / option / exact-answer tasks, BIG-bench list functions, procedural label / exact-answer
tasks) the tasks with the smallest CRC32 of their name. Their few training examples are kept only for few-shot baselines.

Usage::

    python scripts/build_task_corpus.py                      # pip-downloads bigbench==1.0.0 (sdist)
    python scripts/build_task_corpus.py --sdist /tmp/bb/bigbench-1.0.0.tar.gz
    python scripts/build_task_corpus.py --sdist path/to/extracted/bigbench-1.0.0 --out corpus.json.gz
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import itertools
import json
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lora_memory.data.synthetic import word_split  # after the path tweak

FORMAT = "lora-memory/task-corpus"
VERSION = 1
SEED = 20240601
BIGBENCH_VERSION = "1.0.0"
N_TRAIN, N_EVAL = 64, 16  # examples per task (fewer when a BIG-bench task has fewer)
MIN_EXAMPLES = 24
MAX_INPUT_CHARS = 700
MAX_TARGET_CHARS = 80
N_TRAIN_DESCRIPTIONS, N_EVAL_DESCRIPTIONS = 32, 3
# Held-out tasks per (group, kind): a mix of sources and of label / option / exact-answer tasks.
HELDOUT_PER_GROUP = {
    "bigbench/labels": 2, "bigbench/options": 2, "bigbench/exact": 3, "bigbench-list-functions/exact": 2,
    "procedural/labels": 3, "procedural/exact": 7,
}
MIN_HELDOUT_SHOTS = 8  # held-out tasks keep this many training examples (for few-shot baselines)
DEFAULT_OUT = ROOT / "lora_memory" / "data" / "task_corpus.json.gz"

# ---------------------------------------------------------------------------------------------------
# Descriptions

TRAIN_FRAMES = (
    "{A}. {F}",
    "Given {g}, {a}. {F}",
    "You are given {g}. {A}. {F}",
    "Task: {a}. {F}",
    "Please {a}. {F}",
    "Your job is to {a}. {F}",
    "Read {g} and {a}. {F}",
    "Instruction: {a}. {F}",
    "In this task you receive {g}. You must {a}. {F}",
    "The input is {g}. {A}. {F}",
    "{F} Task: {a}.",
    "Look at {g}, then {a}. {F}",
)
EVAL_FRAMES = (
    "When shown {g}, {a}. {F}",
    "I will show you {g}. I want you to {a}. {F}",
    "Objective: {a}. You will be working from {g}. {F}",
)


def _or(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def label_formats(labels: Sequence[str]) -> tuple[str, ...]:
    """Four training and two evaluation format hints for a fixed label set."""
    quoted = [f'"{label}"' for label in labels]
    return (
        f"Answer with {_or(labels)}.",
        f"Reply with one of: {', '.join(labels)}.",
        f"The answer must be {_or(quoted)}.",
        f"Output only the label ({' / '.join(labels)}).",
        f"Respond using exactly one of these labels: {', '.join(quoted)}.",
        f"The only valid outputs are {_and(labels)}.",
    )


OPTION_FORMATS = (
    "Choose one of the listed options and reply with it exactly.",
    "Answer with the text of the correct option.",
    "Pick the right option and copy it as your answer.",
    "Reply with the correct choice from the options given.",
    "Select the best of the offered options and write it out verbatim.",
    "Give the matching option, word for word.",
)


def answer_formats(answer: str) -> tuple[str, ...]:
    """Four training and two evaluation format hints for a free-form answer described as ``answer``."""
    return (
        f"Reply with {answer} only.",
        f"Output just {answer}.",
        f"Answer with {answer} and nothing else.",
        f"Return {answer}.",
        f"Your response should be {answer}, with no extra words.",
        f"Write only {answer}.",
    )


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _end(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "?", "!")) else text + "."


def make_descriptions(
    name: str, actions: Sequence[str], given: Sequence[str], formats: Sequence[str], own: Sequence[str] = ()
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(training descriptions, evaluation descriptions) of one task; disjoint by construction.

    ``actions`` and ``formats`` each end with two evaluation-only entries. ``own`` are the task's own
    descriptions (BIG-bench), used for training with a format hint appended.
    """
    if len(actions) < 6 or len(formats) < 6 or not given:
        raise ValueError(f"{name}: need >= 6 actions, >= 6 formats and a given phrase")
    rng = random.Random(f"descriptions:{name}")
    train_actions, eval_actions = actions[:-2], actions[-2:]
    train_formats, eval_formats = formats[:-2], formats[-2:]
    train: list[str] = []
    for text in own:
        train.append(f"{_end(text)} {rng.choice(train_formats)}")
    combos = list(itertools.product(range(len(train_actions)), range(len(TRAIN_FRAMES))))
    rng.shuffle(combos)
    for a, f in combos:
        if len(train) >= N_TRAIN_DESCRIPTIONS:
            break
        action = train_actions[a]
        text = TRAIN_FRAMES[f].format(A=_cap(action), a=action, g=rng.choice(given), F=rng.choice(train_formats))
        if text not in train:
            train.append(text)
    evals = []
    for j in range(N_EVAL_DESCRIPTIONS):
        action = eval_actions[j % 2]
        evals.append(EVAL_FRAMES[j].format(a=action, g=given[j % len(given)], F=eval_formats[j % 2]))
    if len(set(train)) != len(train) or set(train) & set(evals) or len(set(evals)) != len(evals):
        raise AssertionError(f"{name}: descriptions are not distinct")
    return tuple(train), tuple(evals)


# ---------------------------------------------------------------------------------------------------
# Task records


@dataclass
class Record:
    """One task as written to the corpus (see lora_memory.data.task_corpus.Task)."""

    name: str
    source: str
    license: str
    group: str
    origin: str
    descriptions_train: tuple[str, ...]
    descriptions_eval: tuple[str, ...]
    train: list[dict]
    eval: list[dict]
    metric: str
    choices: tuple[str, ...] | None
    split: str = "train"

    @property
    def kind(self) -> str:
        """"labels" (fixed label set), "options" (per-example options) or "exact"."""
        if self.metric == "exact":
            return "exact"
        return "labels" if self.choices else "options"

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "source": self.source,
            "license": self.license,
            "origin": self.origin,
            "split": self.split,
            "metric": self.metric,
            "choices": list(self.choices) if self.choices is not None else None,
            "descriptions_train": list(self.descriptions_train),
            "descriptions_eval": list(self.descriptions_eval),
            "train": self.train,
            "eval": self.eval,
        }


def _example(inp: str, target: str, options: Sequence[str] = ()) -> dict:
    row = {"input": inp, "target": target}
    if options:
        row["options"] = list(options)
    return row


# ---------------------------------------------------------------------------------------------------
# BIG-bench


@dataclass
class BB:
    """A BIG-bench JSON task and how to turn it into a corpus task.

    mode: ``labels`` (one fixed label set, metric "choice"), ``options`` (per-example answer options
    appended to the input, metric "choice"), ``exact`` (free answer, metric "exact").
    """

    name: str
    path: str
    mode: str
    actions: tuple[str, ...]
    given: tuple[str, ...]
    answer: str | None = None  # exact mode: what the answer is, for format hints
    formats: tuple[str, ...] | None = None  # overrides the generated format hints
    own: bool = True  # keep the task's own description
    prefix: bool = False  # keep the task's task_prefix as another own description
    keep: Callable[[dict], bool] | None = None  # filter on raw examples
    clean_input: Callable[[str], str] | None = None
    strip_period: bool = False  # drop a trailing "." from targets / options
    prefer: str = "string"  # exact mode, several targets: "string" (first) or "digits"
    group: str = "bigbench"
    own_text: str | None = None  # replaces the task's own description (typo fixes)


BIGBENCH: list[BB] = [
    BB("anachronisms", "anachronisms", "labels", (
        "decide whether the sentence contains an anachronism",
        "tell whether the statement mentions something that could not exist at the time it describes",
        "judge if the sentence mixes people, objects or events from different historical periods",
        "check the statement for anachronistic elements",
        "determine if anything in the sentence is out of place for its historical period",
        "say whether the sentence puts something in an era where it did not exist",
    ), ("a sentence", "a short statement")),
    BB("analytic_entailment", "analytic_entailment", "labels", (
        "decide whether the first sentence entails the second",
        "tell whether the second sentence follows necessarily from the first",
        "judge if the second statement is logically entailed by the first",
        "classify the pair of sentences as an entailment or not",
        "determine whether the first sentence guarantees the truth of the second",
        "say if the second statement must be true whenever the first one is",
    ), ("two sentences", "a pair of sentences"), prefix=True),
    BB("valid_parentheses", "cs_algorithms/valid_parentheses", "labels", (
        "decide whether the sequence of brackets is properly matched",
        "check if every opening bracket is closed by the matching bracket in the right order",
        "tell whether the string of parentheses, brackets and braces is balanced",
        "validate the bracket sequence",
        "determine whether the brackets in the sequence nest and close correctly",
        "say if the parenthesis sequence is well formed",
    ), ("a sequence of brackets", "a string of parentheses, square brackets and curly braces"), prefix=True),
    BB("lcs_length", "cs_algorithms/lcs", "exact", (
        "find the length of the longest common subsequence of the two strings",
        "compute how long the longest common subsequence of the two strings is",
        "count the characters in the longest subsequence shared by both strings",
        "determine the LCS length of the two strings",
        "work out the size of the longest sequence of letters that appears, in order, in both strings",
        "give the length of the longest common subsequence",
    ), ("two strings of capital letters", "two letter strings separated by a space"),
        answer="the length as a number", prefix=True),
    BB("crash_blossom", "crash_blossom", "labels", (
        "identify the part of speech of the given word in the headline",
        "tell whether the named word is used as a noun, verb, adjective, adverb or preposition in the headline",
        "determine the grammatical category of the word the question asks about",
        "classify the part of speech of the word in the ambiguous headline",
        "work out which word class the word in question belongs to in the headline",
        "say what part of speech the word plays in the sentence",
    ), ("a question about a word in a news headline", "an ambiguous headline and a word from it")),
    BB("date_understanding", "date_understanding", "options", (
        "work out the date asked for from the information in the text",
        "answer the date question by reasoning about the dates mentioned",
        "infer the requested date in MM/DD/YYYY format",
        "compute the date the question asks about",
        "figure out which calendar date the question refers to",
        "determine the correct date from the context",
    ), ("a short text about dates and a question", "a date question with answer options")),
    BB("disambiguation_qa", "disambiguation_qa", "options", (
        "identify what the pronoun in the sentence refers to, or say that it is ambiguous",
        "find the antecedent of the pronoun in the sentence",
        "decide which noun the pronoun stands for, if that can be determined",
        "resolve the pronoun reference in the sentence",
        "work out who or what the pronoun points to, choosing the ambiguous option when it could be either",
        "explain the antecedent of the pronoun by picking the right option",
    ), ("a sentence containing a pronoun", "a sentence with a possibly ambiguous pronoun and answer options"),
        prefix=True),
    BB("arithmetic_expression", "elementary_math_qa/mathematical_hint_only", "options", (
        "evaluate the nested arithmetic expression",
        "compute the result of the arithmetic operations written in function form",
        "calculate the value of the expression built from add, subtract, multiply and divide",
        "work out what the expression evaluates to",
        "find the numeric result of the composed operations",
        "solve the arithmetic expression",
    ), ("an arithmetic expression such as divide(90, subtract(1, 2))",
        "a nested expression of arithmetic operations with answer options"), own=False),
    BB("emoji_movie", "emoji_movie", "options", (
        "guess the movie described by the emojis",
        "identify which film the emoji sequence represents",
        "name the movie that the emojis stand for",
        "work out the film title from its emoji description",
        "figure out which popular movie is being described with emoji",
        "decode the emoji clue into a movie title",
    ), ("a string of emojis", "an emoji description of a film with answer options")),
    BB("empirical_judgments", "empirical_judgments", "labels", (
        "decide whether the sentence asserts a causal, correlative or neutral relation between two events",
        "classify the relation the sentence states between events as causal, correlative or neutral",
        "tell whether the sentence claims that one event causes another, only that they go together, or neither",
        "label the kind of empirical judgement the sentence makes",
        "determine whether the statement expresses causation, mere correlation, or no relation",
        "identify if the sentence is a causal claim, a correlation claim, or neutral",
    ), ("a sentence about two events", "a sentence")),
    BB("entailed_polarity", "entailed_polarity", "labels", (
        "answer the yes/no question using the fact",
        "use the stated fact to decide whether the answer to the question is yes or no",
        "infer from the fact whether the event in the question happened",
        "answer the question about the fact with yes or no",
        "judge, based on the given fact, whether the question should be answered yes or no",
        "decide what the fact implies for the question",
    ), ("a fact and a question about it", "a fact followed by a yes/no question"), prefix=True),
    BB("epistemic_reasoning", "epistemic_reasoning", "labels", (
        "decide whether the premise entails the hypothesis",
        "tell whether the hypothesis about what people know or believe follows from the premise",
        "classify the premise-hypothesis pair as entailment or non-entailment",
        "check if the hypothesis is guaranteed by the premise",
        "determine whether the hypothesis must hold given the premise",
        "judge if the premise logically implies the hypothesis",
    ), ("a premise and a hypothesis", "a premise about beliefs and a hypothesis"), prefix=True),
    BB("figure_of_speech", "figure_of_speech_detection", "labels", (
        "identify the figure of speech used in the sentence",
        "name the rhetorical device the sentence employs",
        "classify the sentence by its figure of speech",
        "tell which figure of speech the sentence is an example of",
        "determine what kind of figurative language the sentence uses",
        "recognise the literary device in the sentence",
    ), ("a sentence", "an English sentence"), prefix=True),
    BB("general_knowledge", "general_knowledge", "options", (
        "answer the general-knowledge question",
        "answer the basic factual question",
        "give the correct answer to the everyday knowledge question",
        "pick the right answer to the trivia question",
        "respond to the common-sense knowledge question",
        "say what the correct answer to the simple question is",
    ), ("a simple question with answer options", "a general-knowledge question")),
    BB("human_organs_senses", "human_organs_senses", "options", (
        "answer the question about human senses and organs",
        "say which body part or sense the question is about",
        "answer the question about how the human body perceives things",
        "pick the organ or sense that answers the question",
        "respond to the question about the parts of the human body and what they do",
        "identify the body organ or sense asked about",
    ), ("a question about the human body", "a question with answer options")),
    BB("hyperbaton", "hyperbaton", "labels", (
        "decide which of the two phrases has the correct English adjective order",
        "pick the option whose adjectives are in the natural English order",
        "tell whether option a or option b orders its adjectives correctly",
        "choose the phrase with proper adjective order",
        ("identify which phrase follows the standard order of English adjectives (opinion, size, age, shape, colour, "
         "origin, material, purpose)"),
        "determine which candidate puts its adjectives in the right sequence",
    ), ("two phrases labelled a and b", "a question with two adjective phrases")),
    BB("implicatures", "implicatures", "labels", (
        "decide whether Speaker 2's reply means yes or no",
        "interpret the indirect answer as a yes or a no",
        "tell whether the second speaker's response amounts to a yes or a no",
        "work out the implied answer in the short dialogue",
        "determine if the reply to Speaker 1 should be understood as a yes or as a no",
        "read between the lines and say whether Speaker 2 is answering yes or no",
    ), ("a two-line dialogue", "a question from Speaker 1 and an indirect reply from Speaker 2"), prefix=True),
    BB("irony_identification", "irony_identification", "labels", (
        "decide whether the sentence is ironic",
        "tell whether the example is an instance of irony",
        "classify the text as ironic or not ironic",
        "judge if the statement is meant ironically",
        "determine whether the passage uses irony",
        "say whether irony is present in the sentences",
    ), ("one or more sentences", "a short text")),
    BB("known_unknowns", "known_unknowns", "options", (
        "answer the question, or say that the answer is unknown if nobody could know it",
        "pick the answer, choosing Unknown when the question has no knowable answer",
        "answer the question without making up facts that cannot be known",
        "decide whether the question has a knowable answer and answer accordingly",
        "respond to the question, admitting that it is unknown when no one could know",
        "choose between the factual answer and Unknown",
    ), ("a question with two answer options", "a question that may be unanswerable")),
    BB("logical_fallacy_detection", "logical_fallacy_detection", "labels", (
        "decide whether the argument is logically valid or contains a fallacy",
        "tell whether the statement commits a formal or informal logical fallacy",
        "judge the argument as valid or invalid",
        "check the reasoning for fallacies",
        "determine if the argument's reasoning holds up or is fallacious",
        "classify the argument as valid reasoning or a fallacy",
    ), ("an argument", "a short argument or statement"),
        clean_input=lambda s: s.replace(
            "This AI is identifying whether statements contain fallacies. The AI responds with 'Valid' or "
            "'Invalid' as appropriate. ", "").replace("Do you think the following argument is 'Valid' or 'Invalid'? ", "")),
    BB("metaphor_boolean", "metaphor_boolean", "labels", (
        "decide whether the second sentence correctly paraphrases the metaphor in the first",
        "tell whether the interpretation after the arrow matches the meaning of the metaphorical sentence",
        "judge if the paraphrase is a correct reading of the metaphor",
        "check whether the second sentence captures what the metaphor means",
        "determine if the explanation given for the metaphor is right",
        "say whether the metaphor is interpreted correctly",
    ), ("a metaphorical sentence and a paraphrase separated by <-->", "two sentences joined by <-->")),
    BB("misconceptions", "misconceptions", "labels", (
        "decide whether the statement is true or a common misconception",
        "tell whether the claim is true or false",
        "judge the factual accuracy of the statement",
        "separate true facts from popular misconceptions",
        "determine whether the claim is correct or a widespread myth",
        "check the statement and say if it is true",
    ), ("a statement", "a factual claim"), prefix=True, formats=(
        "Answer T for true or F for false.",
        "Reply with T if true, F if false.",
        "Output a single letter: T (true) or F (false).",
        "Write T when the statement is true and F otherwise.",
        "Respond with the letter T for a true statement or F for a false one.",
        "Give T or F (true or false).",
    )),
    BB("navigate", "navigate", "labels", (
        "decide whether following the instructions brings you back to the starting point",
        "tell whether the sequence of steps and turns ends where it started",
        "track the moves and say if you return to the start",
        "determine whether the path is a closed loop",
        "work out whether you end up at your starting position after the moves",
        "simulate the navigation steps and check if you are back at the start",
    ), ("a series of navigation instructions", "a list of steps and turns"), prefix=True),
    BB("object_counting", "object_counting", "exact", (
        "count the objects of the requested kind",
        "answer how many items of the asked category there are",
        "add up the listed objects that belong to the category in the question",
        "count the things mentioned that fit the question",
        "work out the number of objects of the type asked about",
        "tally the relevant items",
    ), ("a list of things someone has and a how-many question", "a counting question"),
        answer="the count in digits", prefer="digits"),
    BB("odd_one_out", "odd_one_out", "exact", (
        "pick the word that does not belong with the others",
        "find the odd one out in the list of words",
        "identify the word that is different from the rest of the group",
        "spot which word does not fit",
        "name the word that breaks the pattern shared by the others",
        "say which item in the list is the outlier",
    ), ("a list of words", "a group of words"), answer="the odd word"),
    BB("operators", "operators", "exact", (
        "apply the newly defined operator to compute the result",
        "use the definition of the op operator to evaluate the expression",
        "compute the value of the expression using the given operator definition",
        "evaluate the op expression according to its definition",
        "work out the result by following the definition of the made-up operator",
        "calculate what the custom operator returns",
    ), ("a definition of an operator followed by an expression", "an operator definition and an expression"),
        answer="the resulting number", prefix=True),
    BB("element_by_number", "periodic_elements/subtask_0", "exact", (
        "name the chemical element with the given atomic number",
        "give the element that has this atomic number",
        "identify the element from its atomic number",
        "say which element of the periodic table has the stated atomic number",
        "find the element corresponding to the atomic number",
        "answer with the periodic-table element for that number",
    ), ("a question about an atomic number", "an atomic number question"), answer="the element name in lower case"),
    BB("element_relative", "periodic_elements/subtask_1", "exact", (
        "name the element described by its position relative to another element",
        "identify the element from its relation to another element in the periodic table",
        "work out which element is meant from the number of protons or the neighbour mentioned",
        "answer the periodic-table riddle with an element name",
        "find the element the question points to relative to the given element",
        "determine the element from its place next to another one",
    ), ("a question about the periodic table", "a question relating two elements"),
        answer="the element name in lower case",
        own_text="Determine the name of an element in the periodic table relative to other elements"),
    BB("colored_objects", "reasoning_about_colored_objects", "exact", (
        "answer the question about the colours of the objects",
        "say what colour the object asked about is",
        "read the description of the objects and give the colour the question asks for",
        "find the colour of the requested item",
        "work out the colour of the object in question, including its position in the row",
        "report the colour that answers the question about the objects",
    ), ("a description of objects on a surface and a question", "a scene with coloured objects"),
        answer="the colour name", keep=lambda e: e.get("comment") in ("what_color", "spatial")),
    BB("ruin_names", "ruin_names", "options", (
        "pick the humorous edit that ruins the artist or movie name",
        "choose the funny alteration of the name",
        "select the option that turns the name into a joke",
        "find the humorous misspelling of the title",
        "identify which edited version of the name is a pun",
        "choose the witty corruption of the band or film name",
    ), ("an artist or movie name with candidate edits", "a question with answer options")),
    BB("sentence_ambiguity", "sentence_ambiguity", "labels", (
        "decide whether the potentially misleading claim is true or false",
        "judge the truth of the claim",
        "tell whether the sentence is literally true",
        "check the claim and answer whether it is true",
        "determine whether the tricky statement is actually true",
        "evaluate the truth of the possibly misleading sentence",
    ), ("a claim", "a possibly misleading sentence")),
    BB("snarks", "snarks", "labels", (
        "decide which of the two statements is sarcastic",
        "pick the sarcastic statement",
        "identify the sentence that is meant sarcastically",
        "tell whether (a) or (b) is sarcastic",
        "find the option that uses sarcasm",
        "determine which statement is mocking rather than sincere",
    ), ("two statements labelled (a) and (b)", "a pair of statements")),
    BB("sports_understanding", "sports_understanding", "labels", (
        "decide whether the sports sentence is plausible",
        "tell whether the statement about the athlete makes sense for their sport",
        "judge if the sentence relating a player to an action is plausible or implausible",
        "check the sports statement for consistency",
        "determine whether the athlete could realistically have done what the sentence says",
        "assess whether the sports claim is believable",
    ), ("a statement about an athlete", "a sports sentence"), prefix=True),
    BB("temporal_sequences", "temporal_sequences", "options", (
        "work out between which times the event could have happened",
        "find the free time slot in which the person could have done it",
        "use the schedule to determine when the event took place",
        "answer the question about possible times",
        "figure out the window of time that is unaccounted for",
        "determine from the sightings when the visit was possible",
    ), ("a day's schedule and a question", "a list of sightings and a question with time options")),
    BB("shuffled_objects", "tracking_shuffled_objects/three_objects", "options", (
        "track the swaps and say which object the person ends up with",
        "follow the sequence of trades to find the named person's final item",
        "determine the final positions of the objects after the swaps",
        "keep track of the exchanges and answer the question",
        "simulate the swaps between players to find what the named person has at the end",
        "work out the outcome of the series of swaps",
    ), ("a story of three players swapping items", "a description of swaps between players"), strip_period=True),
    BB("unit_identification", "unit_conversion/unit_identification", "options", (
        "pick the answer expressed in the units the question asks for",
        "choose the option with the requested unit",
        "identify which option uses the specified unit",
        "select the answer whose units match the question",
        "find the choice given in the correct unit",
        "spot the option written in the units mentioned in the question",
    ), ("a quantity and a requested unit", "an unfinished sentence with answer options")),
    BB("si_conversion", "unit_conversion/si_conversion", "options", (
        "convert the quantity between SI units with metric prefixes",
        "choose the correctly converted value",
        "convert the measurement to the requested unit",
        "perform the metric prefix conversion",
        "work out the value in the target unit",
        "express the quantity in the new unit",
    ), ("a quantity and a target unit", "an unfinished sentence with answer options"),
        own_text="Conversion of units within SI system involving metric prefixes"),
    BB("word_unscrambling", "word_unscrambling", "exact", (
        "unscramble the letters to form an English word",
        "rearrange the scrambled letters into a real word",
        "find the English word whose letters were shuffled",
        "solve the anagram",
        "put the jumbled letters back into the right order",
        "recover the original word from its scrambled form",
    ), ("a scrambled word", "a sentence containing a scrambled word"), answer="the unscrambled word",
        keep=lambda e: isinstance(e.get("target"), str)),
    BB("past_tense", "linguistic_mappings/past_tense_json", "exact", (
        "give the past tense of the verb",
        "convert the verb to its simple past form",
        "write the verb in the past tense",
        "conjugate the verb into the past simple",
        "turn the present-tense verb into its past-tense form",
        "say how the verb is written in the past",
    ), ("an English verb", "the base form of a verb"), answer="the past-tense form", own=False),
    BB("plural", "linguistic_mappings/plural_json", "exact", (
        "give the plural of the noun",
        "write the noun in its plural form",
        "pluralise the noun",
        "form the plural of the word",
        "turn the singular noun into the plural",
        "say what the noun becomes when there are several",
    ), ("an English noun", "a singular noun"), answer="the plural form", own=False),
    BB("question_formation", "linguistic_mappings/question_formation_json", "exact", (
        "turn the clause into a yes/no question",
        "rewrite the statement as a question by moving or adding the auxiliary verb",
        "form the yes/no question corresponding to the clause",
        "convert the declarative clause into a question",
        "make a question out of the statement, keeping its tense and number",
        "rephrase the clause as an interrogative",
    ), ("a clause", "a short declarative clause"), answer="the question in lower case, without a question mark",
        own=False),
    BB("addition_plus_one", "modified_arithmetic/three_digit_addition_plus_one", "exact", (
        "add the two numbers of the last line and then add one",
        "compute the sum of the last pair plus one, as the example lines do",
        "follow the pattern of the examples: the sum of the two numbers plus 1",
        "complete the unfinished line, whose rule adds the numbers and then one more",
        "apply the rule shown in the lines (sum, then plus one) to the last pair",
        "calculate the last two numbers' total increased by one",
    ), ("lines of examples using ->, ending with an unfinished line", "example lines and a final incomplete line"),
        answer="the number"),
    BB("multiplication_plus_one", "modified_arithmetic/two_digit_multiplication_plus_one", "exact", (
        "multiply the two numbers of the last line and then add one",
        "compute the product of the last pair plus one, as the example lines do",
        "follow the pattern of the examples: the product of the two numbers plus 1",
        "complete the unfinished line, whose rule multiplies the numbers and adds one",
        "apply the rule shown in the lines (product, then plus one) to the last pair",
        "calculate the last two numbers multiplied together and increased by one",
    ), ("lines of examples using ->, ending with an unfinished line", "example lines and a final incomplete line"),
        answer="the number"),
    BB("two_digit_multiplication", "arithmetic/2_digit_multiplication", "exact", (
        "multiply the two numbers",
        "compute the product asked for",
        "answer the multiplication question",
        "work out the result of the multiplication",
        "calculate the product of the two two-digit numbers",
        "give the answer to the times question",
    ), ("a question like 'What is 50 times 20?'", "a multiplication question"), answer="the number", own=False),
    BB("three_digit_subtraction", "arithmetic/3_digit_subtraction", "exact", (
        "subtract the second number from the first",
        "compute the difference asked for",
        "answer the subtraction question",
        "work out the result of the subtraction",
        "calculate the first three-digit number minus the second",
        "give the answer to the minus question",
    ), ("a question like 'What is 512 minus 87?'", "a subtraction question"), answer="the number", own=False),
    BB("sufficient_information", "sufficient_information", "exact", (
        "answer the question from the context, or say I do not know if the context does not tell you",
        "use only the given information to answer, replying I do not know when it is insufficient",
        "answer the question if the text contains enough information, otherwise admit you do not know",
        "decide whether the context answers the question and respond accordingly",
        "respond to the question using the context alone, saying I do not know when it cannot be answered",
        "give the answer supported by the context, or I do not know",
    ), ("a short context and a question", "a few sentences followed by a question"),
        answer="a short answer with numbers spelled out, or I do not know", prefix=True),
    BB("geometric_shapes", "geometric_shapes", "labels", (
        "name the shape that the SVG path draws",
        "identify the geometric figure drawn by the path element",
        "say which shape the SVG path commands produce",
        "work out the shape from the path coordinates",
        "determine what figure the SVG path outlines",
        "recognise the shape encoded in the path data",
    ), ("an SVG path element", "an SVG path with coordinates")),
    BB("color_rgb", "color/rgb", "labels", (
        "name the colour closest to the RGB value",
        "identify the colour that the RGB code represents",
        "say which basic colour matches the rgb() triple",
        "convert the RGB representation into a colour name",
        "determine the common colour name nearest to the RGB code",
        "work out what colour the red, green and blue values give",
    ), ("an RGB colour code", "a question about an rgb() value"), own=False),
    BB("physical_intuition", "physical_intuition", "options", (
        "answer the physics question about how the system behaves",
        "deduce the physical mechanism or behaviour the question asks about",
        "use physical intuition to choose the right answer",
        "reason about the physical situation and answer",
        "work out what physics predicts for the described system",
        "apply basic physics to answer the question",
    ), ("a physics question", "a question about a physical system with answer options")),
    BB("phrase_relatedness", "phrase_relatedness", "options", (
        "pick the option most related in meaning to the phrase",
        "choose the word or phrase closest in meaning to the given one",
        "select the most semantically related choice",
        "find which option is most related to the phrase",
        "identify the option whose meaning is nearest to the phrase",
        "match the phrase with its most closely related choice",
    ), ("a word or phrase with options", "a phrase and candidate related phrases"), prefix=True),
]

# list_functions: (subtask, [three paraphrases of the function written here]); the function phrase
# itself comes from the task's own description.
LIST_FUNCTIONS: list[tuple[str, tuple[str, str, str]]] = [
    ("c006", ("keep only the first two numbers of the list", "output the first 2 elements",
              "return the list cut down to its first two items")),
    ("c029", ("drop the first two numbers of the list", "remove the first 2 elements and keep the rest",
              "output the list without its first two items")),
    ("c030", ("drop the last two numbers of the list", "remove the final 2 elements",
              "output the list without its last two items")),
    ("c037", ("append the number 3 to the end of the list", "add a 3 at the end of the list",
              "output the list followed by 3")),
    ("c046", ("put the number 7 at the front of the list", "prepend a 7 to the list",
              "output 7 followed by the list")),
    ("c061", ("keep only the last number of the list", "return a list holding just the final element",
              "output the last element as a one-item list")),
    ("c064", ("remove the first and the last number of the list", "drop both end elements of the list",
              "output the list without its first and last items")),
    ("c066", ("move the first number to the end of the list", "rotate the list left by one position",
              "shift every element one place left, wrapping the first one around to the end")),
    ("c067", ("swap the first and the last numbers of the list", "exchange the first and final elements",
              "output the list with its two end elements swapped")),
    ("c070", ("write the list twice in a row", "concatenate the list with a copy of itself",
              "repeat the whole list once more at its end")),
    ("c071", ("add 2 to every number in the list", "increase each element by two",
              "output the list with 2 added to each number")),
    ("c072", ("repeat every number twice in place", "write each element two times in a row",
              "double each item of the list by repeating it")),
    ("c074", ("remove every number smaller than 8", "keep only the elements that are at least 8",
              "filter the list down to numbers of 8 or more")),
    ("c077", ("count how many numbers the list has and output the count in a list",
              "return the length of the list as a one-item list", "output [n] where n is the number of elements")),
    ("c078", ("return the largest number in the list as a one-item list", "find the maximum element",
              "output the biggest value in brackets")),
    ("c079", ("add up all the numbers and output the total in a list",
              "return the sum of the elements as a one-item list", "sum the list and put the total in brackets")),
    ("c080", ("reverse the order of the numbers in the list", "write the list backwards",
              "output the elements from last to first")),
    ("c106", ("sort the numbers in ascending order", "order the list from smallest to largest",
              "output the list sorted increasingly")),
    ("c107", ("remove repeated numbers, keeping the first occurrence of each",
              "keep each distinct number once, in order of appearance", "deduplicate the list")),
    ("c167", ("keep only the numbers divisible by 3", "remove every element that is not a multiple of three",
              "filter the list down to multiples of 3")),
    ("c171", ("replace each number with the running total up to it", "output the cumulative sums of the list",
              "compute the prefix sums of the list")),
    ("c241", ("count the even numbers in the list and output the count in a list",
              "return how many elements are even, as a one-item list",
              "output [k] where k is the number of even elements")),
    ("c160", ("replace every number M with 99 minus M", "subtract each element from 99",
              "map each value to how far it is below 99")),
    ("c192", ("replace every number with its tens digit", "keep only the tens digit of each element, 0 for one-digit numbers",
              "output the tens digit of each number")),
]


def _list_function_specs(task_json: dict[str, dict]) -> list[BB]:
    specs = []
    for cid, (m1, m2, m3) in LIST_FUNCTIONS:
        data = task_json[f"list_functions/{cid}"]
        f = re.search(r'target function is "(.*)"', data["description"]).group(1)
        actions = (
            f'apply the list function "{f}" to the input list', m1,
            f'transform the list of numbers according to the rule "{f}"', m2,
            f'map the input list to its output under the rule "{f}"', m3,
        )
        specs.append(BB(
            f"list_{cid}", f"list_functions/{cid}", "exact", actions,
            ("a list of numbers", "a list of natural numbers in square brackets"),
            answer="the output list in square brackets", group="bigbench-list-functions",
            own_text=f'Infer and compute a function over lists of natural numbers. The target function is "{f}"',
        ))
    return specs


def _correct_keys(example: dict) -> list[str]:
    scores = example.get("target_scores") or {}
    if not scores:
        return []
    best = max(scores.values())
    return [k for k, v in scores.items() if v == best and v > 0]


def _pick_target(example: dict, prefer: str) -> str | None:
    target = example.get("target")
    if isinstance(target, list):
        target = [t for t in target if isinstance(t, str) and t.strip()]
        if not target:
            return None
        if prefer == "digits":
            digits = [t for t in target if t.strip().isdigit()]
            return digits[0] if digits else target[0]
        return target[0]
    if isinstance(target, str) and target.strip():
        return target
    keys = _correct_keys(example)
    return keys[0] if len(keys) == 1 else None


def _sizes(available: int) -> tuple[int, int]:
    n_eval = min(N_EVAL, max(4, available // 5))
    return min(N_TRAIN, available - n_eval), n_eval


def _balanced_order(rows: list[dict], rng: random.Random) -> list[dict]:
    """Round-robin over labels (each shuffled), so every prefix is close to label-balanced."""
    by_label: dict[str, list[dict]] = {}
    for row in rows:
        by_label.setdefault(row["target"], []).append(row)
    queues = [by_label[k] for k in sorted(by_label)]
    rng.shuffle(queues)
    out = []
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop())
    return out


def bigbench_record(spec: BB, data: dict) -> Record:
    rng = random.Random(f"examples:{spec.name}")
    rows, seen = [], set()
    for ex in data["examples"]:
        if spec.keep is not None and not spec.keep(ex):
            continue
        inp = ex.get("input", "")
        if spec.clean_input is not None:
            inp = spec.clean_input(inp)
        inp = inp.strip()
        if not inp or inp in seen or len(inp) > MAX_INPUT_CHARS:
            continue
        if spec.mode == "exact":
            target = _pick_target(ex, spec.prefer)
            options: list[str] = []
        else:
            keys = _correct_keys(ex)
            if len(keys) != 1:
                continue
            target, options = keys[0], list(ex["target_scores"])
        if target is None:
            continue
        target = target.strip()
        if spec.strip_period:
            target = target.rstrip(".")
            options = [o.strip().rstrip(".") for o in options]
        if not target or len(target) > MAX_TARGET_CHARS:
            continue
        if spec.mode == "options":
            options = [o.strip() for o in options]
            if len(set(options)) != len(options) or any(not o or "|" in o for o in options):
                continue
            rng.shuffle(options)
            shown = f"{inp}\nOptions: {' | '.join(options)}"
            if len(shown) > MAX_INPUT_CHARS:
                continue
            rows.append(_example(shown, target, options))
        else:
            rows.append(_example(inp, target))
        seen.add(inp)
    if len(rows) < MIN_EXAMPLES:
        raise ValueError(f"{spec.name}: only {len(rows)} usable examples")
    rng.shuffle(rows)
    choices = None
    if spec.mode == "labels":
        label_set: dict[str, None] = {}
        for ex in data["examples"]:
            for k in ex.get("target_scores", {}):
                label_set.setdefault(k.strip(), None)
        choices = tuple(label_set)
        if len(choices) > 12:
            raise ValueError(f"{spec.name}: {len(choices)} labels is too many for a label task")
        rows = _balanced_order(rows, rng)
    n_train, n_eval = _sizes(len(rows))
    eval_rows, train_rows = rows[:n_eval], rows[n_eval:n_eval + n_train]
    if spec.formats is not None:
        formats = spec.formats
    elif spec.mode == "labels":
        formats = label_formats(choices)
    elif spec.mode == "options":
        formats = OPTION_FORMATS
    else:
        formats = answer_formats(spec.answer)
    own = []
    if spec.own:
        own.append(spec.own_text or data["description"])
    if spec.prefix and data.get("task_prefix", "").strip():
        own.append(data["task_prefix"].strip())
    d_train, d_eval = make_descriptions(spec.name, spec.actions, spec.given, formats, own)
    return Record(
        name=f"bigbench/{spec.name}", source="bigbench", license="Apache-2.0", group=spec.group,
        origin=f"bigbench=={BIGBENCH_VERSION}:bigbench/benchmark_tasks/{spec.path}/task.json",
        descriptions_train=d_train, descriptions_eval=d_eval, train=train_rows, eval=eval_rows,
        metric="exact" if spec.mode == "exact" else "choice", choices=choices,
    )


def read_bigbench(source: Path, paths: Iterable[str]) -> dict[str, dict]:
    """The task.json of each of ``paths`` from a bigbench sdist (.tar.gz) or an extracted copy."""
    wanted = set(paths)
    found: dict[str, dict] = {}
    pattern = re.compile(r"^[^/]+/bigbench/benchmark_tasks/(.+)/task\.json$")
    if source.is_dir():
        base = source / "bigbench" / "benchmark_tasks"
        for path in wanted:
            file = base / path / "task.json"
            if file.exists():
                found[path] = json.loads(file.read_text(encoding="utf-8"))
    else:
        with tarfile.open(source, "r:gz") as tar:
            for member in tar:
                m = pattern.match(member.name)
                if m and m.group(1) in wanted and member.isfile():
                    found[m.group(1)] = json.loads(tar.extractfile(member).read().decode("utf-8"))
    missing = wanted - set(found)
    if missing:
        raise FileNotFoundError(f"task.json not found in {source} for: {sorted(missing)}")
    return found


def fetch_sdist(dest: Path) -> Path:
    """``pip download`` the bigbench source distribution (no wheel, no dependencies) into ``dest``."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           f"bigbench=={BIGBENCH_VERSION}", "-d", str(dest)]
    print("$", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)
    found = sorted(dest.glob(f"bigbench-{BIGBENCH_VERSION}.tar.gz"))
    if not found:
        raise FileNotFoundError(f"pip download produced no bigbench-{BIGBENCH_VERSION}.tar.gz in {dest}")
    return found[0]


def sha256(path: Path) -> str | None:
    if path.is_dir():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------
# Procedural tasks: open vocabulary

CONSONANTS = "bcdfghjklmnprstvwz"
VOWEL_LETTERS = "aeiou"


# Made-up words never contain these (profanity, slurs) and are never one of the keyword-rule words below.
BLOCKED_SUBSTRINGS = ("fuk", "fuc", "shit", "nig", "fag", "cunt", "dik", "dick", "cok", "cock", "sex", "rape", "porn",
                      "slut", "whor", "tit", "cum", "jiz", "pus", "bich", "bitch", "kkk", "nazi", "ass", "anal")


def made_up_word(rng: random.Random, part: str, lo: int = 4, hi: int = 8) -> str:
    """A pronounceable lowercase made-up word whose ``word_split`` is ``part`` ("train" / "heldout").

    Words that contain a blocked substring or are one of the keyword-rule words (sentiment lexicon,
    topic keywords, colours, ...) are redrawn, so a keyword rule is never triggered by accident.
    """
    while True:
        n = rng.randint(lo, hi)
        vowel_first = rng.random() < 0.3
        w = "".join(rng.choice(VOWEL_LETTERS if (i % 2 == 0) == vowel_first else CONSONANTS) for i in range(n))
        if rng.random() < 0.25:  # an occasional consonant cluster
            i = rng.randrange(1, n)
            w = w[:i] + rng.choice(CONSONANTS) + w[i:]
        if word_split(w) == part and w not in RESERVED_WORDS and not any(b in w for b in BLOCKED_SUBSTRINGS):
            return w


def made_up_words(rng: random.Random, part: str, n: int, lo: int = 3, hi: int = 8) -> list[str]:
    words: list[str] = []
    while len(words) < n:
        w = made_up_word(rng, part, lo, hi)
        if w not in words:
            words.append(w)
    return words


def filler(rng: random.Random, part: str, n: int) -> list[str]:
    return made_up_words(rng, part, n, 2, 7)


def _insert(rng: random.Random, words: list[str], token: str) -> list[str]:
    words = list(words)
    words.insert(rng.randint(0, len(words)), token)
    return words


def _numbers(rng: random.Random, n: int, lo: int = 1, hi: int = 99) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(n)]


def _sentence(words: Sequence[str], end: str = ".") -> str:
    return " ".join(words) + end


POSITIVE = ("good", "great", "lovely", "wonderful", "excellent", "happy", "superb", "delightful", "pleasant",
            "fantastic")
NEGATIVE = ("bad", "awful", "terrible", "horrible", "poor", "sad", "dreadful", "nasty", "lousy", "miserable")
TOPICS = {
    "sports": ("goal", "match", "team", "coach", "stadium", "referee", "tournament", "score"),
    "food": ("bread", "soup", "cheese", "recipe", "oven", "salad", "dinner", "spoon"),
    "weather": ("rain", "snow", "storm", "wind", "cloud", "forecast", "thunder", "fog"),
    "music": ("song", "guitar", "melody", "drum", "concert", "piano", "choir", "rhythm"),
}
URGENT = ("urgent", "immediately", "asap", "emergency", "now", "quickly")
ANIMALS = ("cat", "dog", "horse", "rabbit", "owl", "fox", "sheep", "goat", "mouse", "duck")
COLOURS = ("red", "blue", "green", "yellow", "purple", "orange", "black", "white", "pink", "brown", "grey")
NEGATIONS = ("not", "never", "no")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
TLDS = ("com", "org", "net", "io")
RESERVED_WORDS = frozenset(
    POSITIVE + NEGATIVE + sum(TOPICS.values(), ()) + URGENT + ANIMALS + COLOURS + NEGATIONS + TLDS
    + tuple(m.lower() for m in MONTHS) + ONES + TENS
)


def number_words(n: int) -> str:
    if n < 20:
        return ONES[n]
    tens, ones = divmod(n, 10)
    return TENS[tens] + ("" if ones == 0 else "-" + ONES[ones])


def roman(n: int) -> str:
    out = ""
    for value, sym in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"),
                       (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while n >= value:
            out, n = out + sym, n - value
    return out


def pig_latin(word: str) -> str:
    if word[0] in VOWEL_LETTERS:
        return word + "way"
    i = 0
    while i < len(word) and word[i] not in VOWEL_LETTERS:
        i += 1
    return word[i:] + word[:i] + "ay"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


@dataclass
class Proc:
    name: str
    gen: Callable[[random.Random, str], tuple[str, str]]
    actions: tuple[str, ...]
    given: tuple[str, ...]
    answer: str | None = None
    labels: tuple[str, ...] | None = None
    formats: tuple[str, ...] | None = None


PROCEDURAL: list[Proc] = []


def proc(name: str, actions: tuple[str, ...], given: tuple[str, ...], answer: str | None = None,
         labels: tuple[str, ...] | None = None, formats: tuple[str, ...] | None = None):
    def register(gen: Callable[[random.Random, str], tuple[str, str]]):
        PROCEDURAL.append(Proc(name, gen, actions, given, answer, labels, formats))
        return gen
    return register


WORD = ("a made-up word", "a single lowercase word")
WORDS = ("a list of made-up words separated by spaces", "several lowercase words")
SENT = ("a sentence of made-up words", "a short sentence")
ONE_NUMBER = ("a whole number", "a number")
TWO_NUMBERS = ("two numbers separated by a space", "a pair of whole numbers")
NUMBER_LIST = ("a comma-separated list of numbers", "a list of whole numbers")

# --- single-word transforms ------------------------------------------------------------------------


@proc("reverse_word", (
    "reverse the word", "spell the word backwards", "write the letters of the word in reverse order",
    "return the word read from right to left",
    "flip the word so that its last letter comes first", "produce the mirror-image spelling of the word",
), WORD, answer="the reversed word")
def _(rng, part):
    w = made_up_word(rng, part)
    return w, w[::-1]


@proc("uppercase_word", (
    "convert the word to upper case", "write the word in capital letters", "capitalise every letter of the word",
    "turn all the letters of the word into uppercase",
    "rewrite the word using only capital letters", "make each letter of the word a capital",
), WORD, answer="the word in upper case")
def _(rng, part):
    w = made_up_word(rng, part)
    return w, w.upper()


@proc("capitalize_word", (
    "capitalise the first letter of the word", "make only the first letter of the word a capital",
    "write the word with an initial capital letter", "turn the word into title case",
    "change the first letter of the word to uppercase and leave the rest", "start the word with a capital letter",
), WORD, answer="the capitalised word")
def _(rng, part):
    w = made_up_word(rng, part)
    return w, w.capitalize()


@proc("first_letter", (
    "give the first letter of the word", "output the initial letter of the word", "say which letter the word starts with",
    "extract the first character of the word",
    "name the letter at the start of the word", "tell me the opening letter of the word",
), WORD, answer="a single letter")
def _(rng, part):
    w = made_up_word(rng, part)
    return w, w[0]


@proc("last_letter", (
    "give the last letter of the word", "output the final letter of the word", "say which letter the word ends with",
    "extract the last character of the word",
    "name the letter at the end of the word", "tell me the closing letter of the word",
), WORD, answer="a single letter")
def _(rng, part):
    w = made_up_word(rng, part)
    return w, w[-1]


@proc("word_length", (
    "count the letters in the word", "say how many letters the word has", "give the length of the word",
    "compute the number of characters in the word",
    "work out how long the word is, in letters", "tell me the letter count of the word",
), WORD, answer="the number")
def _(rng, part):
    w = made_up_word(rng, part, 3, 11)
    return w, str(len(w))


@proc("count_vowels", (
    "count the vowels in the word", "say how many of the letters a, e, i, o, u the word contains",
    "give the number of vowels in the word", "count how many letters of the word are vowels",
    "work out how many vowel letters appear in the word", "tell me how many times a vowel occurs in the word",
), WORD, answer="the number")
def _(rng, part):
    w = made_up_word(rng, part, 3, 10)
    return w, str(sum(c in VOWEL_LETTERS for c in w))


@proc("remove_vowels", (
    "remove all the vowels from the word", "delete the letters a, e, i, o and u from the word",
    "write the word without its vowels", "strip the vowels out of the word",
    "keep only the consonants of the word, in order", "drop every vowel from the word",
), WORD, answer="the remaining letters")
def _(rng, part):
    w = made_up_word(rng, part, 4, 9)
    return w, "".join(c for c in w if c not in VOWEL_LETTERS)


@proc("double_letters", (
    "double every letter of the word", "write each letter of the word twice", "repeat every character of the word once",
    "spell the word with each letter doubled",
    "write the word so that each of its letters appears two times in a row", "duplicate each letter of the word in place",
), WORD, answer="the new word")
def _(rng, part):
    w = made_up_word(rng, part, 3, 6)
    return w, "".join(c + c for c in w)


@proc("pig_latin", (
    "translate the word into Pig Latin",
    ("convert the word to Pig Latin: move the leading consonants to the end and add 'ay' (words starting with a vowel "
     "just get 'way')"),
    "write the word in Pig Latin", "apply the Pig Latin rule to the word",
    ("turn the word into its Pig Latin form, moving initial consonants to the end followed by 'ay', or adding 'way' "
     "after an initial vowel"),
    "say the word in Pig Latin",
), WORD, answer="the Pig Latin word")
def _(rng, part):
    w = made_up_word(rng, part)
    return w, pig_latin(w)


@proc("swap_first_last_letter", (
    "swap the first and last letters of the word", "exchange the first letter of the word with its last letter",
    "move the last letter to the front and the first letter to the end", "switch the two end letters of the word",
    "trade places between the opening and closing letters of the word",
    "write the word with its first and final letters interchanged",
), WORD, answer="the changed word")
def _(rng, part):
    while True:
        w = made_up_word(rng, part)
        if w[0] != w[-1]:
            return w, w[-1] + w[1:-1] + w[0]


@proc("first_three_letters", (
    "give the first three letters of the word", "output the word's first 3 characters",
    "cut the word down to its first three letters", "extract the three-letter prefix of the word",
    "keep only the opening three letters of the word", "write just the beginning of the word, three letters long",
), WORD, answer="three letters")
def _(rng, part):
    w = made_up_word(rng, part, 5, 9)
    return w, w[:3]


@proc("last_two_letters", (
    "give the last two letters of the word", "output the word's final 2 characters",
    "extract the two-letter ending of the word", "keep only the last two letters of the word",
    "write just the final pair of letters of the word", "tell me how the word ends, as two letters",
), WORD, answer="two letters")
def _(rng, part):
    w = made_up_word(rng, part, 4, 9)
    return w, w[-2:]


@proc("sort_letters", (
    "sort the letters of the word alphabetically", "rearrange the letters of the word into alphabetical order",
    "write the word's letters from a to z", "put the characters of the word in alphabetical order",
    "order the letters of the word as they appear in the alphabet", "alphabetise the letters of the word",
), WORD, answer="the sorted letters")
def _(rng, part):
    w = made_up_word(rng, part, 4, 8)
    return w, "".join(sorted(w))


@proc("spell_with_dashes", (
    "spell out the word with a dash between consecutive letters", "put a hyphen between every two letters of the word",
    "separate the letters of the word with dashes", "write the word letter by letter, joined by hyphens",
    "insert a '-' between each pair of adjacent letters of the word", "hyphenate the word after every letter except the last",
), WORD, answer="the dashed spelling")
def _(rng, part):
    w = made_up_word(rng, part, 3, 7)
    return w, "-".join(w)


@proc("next_letter_shift", (
    "replace every letter of the word with the next letter of the alphabet (z becomes a)",
    "shift each letter of the word forward by one in the alphabet, wrapping z to a",
    "apply a Caesar shift of one to the word", "encode the word by moving each letter one step along the alphabet",
    "advance every character of the word to the following letter, with z wrapping round to a",
    "write the word with each letter changed to its successor in the alphabet",
), WORD, answer="the shifted word")
def _(rng, part):
    w = made_up_word(rng, part, 3, 7)
    return w, "".join(chr((ord(c) - 97 + 1) % 26 + 97) for c in w)


@proc("mask_vowels", (
    "replace every vowel in the word with an asterisk", "hide the vowels of the word behind * symbols",
    "write the word with each of a, e, i, o, u changed to *", "mask the vowels of the word with stars",
    "substitute a '*' for each vowel in the word", "cover up the word's vowels using asterisks",
), WORD, answer="the masked word")
def _(rng, part):
    w = made_up_word(rng, part)
    return w, "".join("*" if c in VOWEL_LETTERS else c for c in w)


@proc("repeat_word_three_times", (
    "repeat the word three times, separated by spaces", "write the word 3 times with a space between copies",
    "say the word three times in a row", "output three space-separated copies of the word",
    "echo the word thrice, leaving a space between the copies", "give the word, the word again, and the word once more",
), WORD, answer="the repeated words")
def _(rng, part):
    w = made_up_word(rng, part, 3, 6)
    return w, " ".join([w] * 3)


@proc("is_palindrome", (
    "decide whether the word is a palindrome", "tell whether the word reads the same forwards and backwards",
    "check if the word is spelled the same in reverse", "say if the word is a palindrome",
    "determine whether reversing the word gives the same word", "judge if the word is symmetric letter by letter",
), WORD, labels=("yes", "no"))
def _(rng, part):
    if rng.random() < 0.5:
        while True:
            half = made_up_word(rng, "train", 2, 4)
            w = half + (half[-2::-1] if rng.random() < 0.5 else half[::-1])
            if word_split(w) == part:
                return w, "yes"
    while True:
        w = made_up_word(rng, part, 3, 8)
        if w != w[::-1]:
            return w, "no"


@proc("starts_with_vowel", (
    "decide whether the word starts with a vowel", "tell whether the first letter of the word is a, e, i, o or u",
    "check if the word begins with a vowel", "say if the word's initial letter is a vowel",
    "determine whether the opening letter of the word is a vowel", "judge if the word has a vowel at the front",
), WORD, labels=("yes", "no"))
def _(rng, part):
    want = rng.random() < 0.5
    while True:
        w = made_up_word(rng, part)
        if (w[0] in VOWEL_LETTERS) == want:
            return w, _yes(want)


@proc("count_letter", (
    "count how many times the given letter occurs in the word", "say how often the letter appears in the word",
    "give the number of occurrences of the letter in the word", "count the copies of the named letter in the word",
    "work out how many times the word contains that letter", "tell me the frequency of the letter within the word",
), ("a word and a letter", "a line 'word: ...' and a line 'letter: ...'"), answer="the number")
def _(rng, part):
    w = made_up_word(rng, part, 5, 11)
    letter = rng.choice(w) if rng.random() < 0.85 else rng.choice(VOWEL_LETTERS)
    return f"word: {w}\nletter: {letter}", str(w.count(letter))


# --- word lists -------------------------------------------------------------------------------------


@proc("count_words", (
    "count the words", "say how many words there are", "give the number of words in the input",
    "count how many space-separated words the input has",
    "work out how many words are listed", "tell me the word count",
), WORDS, answer="the number")
def _(rng, part):
    ws = made_up_words(rng, part, rng.randint(2, 9))
    return " ".join(ws), str(len(ws))


@proc("sort_words", (
    "sort the words alphabetically", "put the words in alphabetical order", "arrange the words from a to z",
    "order the list of words as in a dictionary",
    "rearrange the words so that they are alphabetised", "list the words in dictionary order",
), WORDS, answer="the sorted words separated by spaces")
def _(rng, part):
    ws = made_up_words(rng, part, rng.randint(3, 6))
    return " ".join(ws), " ".join(sorted(ws))


@proc("reverse_word_order", (
    "reverse the order of the words", "write the words from last to first", "list the words backwards, keeping each word intact",
    "flip the sequence of words",
    "output the same words in the opposite order", "turn the word order around, leaving the spelling of each word unchanged",
), WORDS, answer="the words in reverse order, separated by spaces")
def _(rng, part):
    ws = made_up_words(rng, part, rng.randint(3, 6))
    return " ".join(ws), " ".join(reversed(ws))


@proc("first_word", (
    "give the first word", "output the word that comes first", "extract the opening word of the list",
    "say which word is at the start",
    "return only the initial word", "pick out the leading word",
), WORDS, answer="one word")
def _(rng, part):
    ws = made_up_words(rng, part, rng.randint(3, 7))
    return " ".join(ws), ws[0]


@proc("last_word", (
    "give the last word", "output the word that comes last", "extract the final word of the list",
    "say which word is at the end",
    "return only the closing word", "pick out the trailing word",
), WORDS, answer="one word")
def _(rng, part):
    ws = made_up_words(rng, part, rng.randint(3, 7))
    return " ".join(ws), ws[-1]


@proc("second_word", (
    "give the second word", "output the word in position two", "extract the word that follows the first one",
    "say which word comes second",
    "return the word right after the opening word", "pick out word number two",
), WORDS, answer="one word")
def _(rng, part):
    ws = made_up_words(rng, part, rng.randint(3, 7))
    return " ".join(ws), ws[1]


@proc("longest_word", (
    "find the longest word", "output the word with the most letters", "pick the longest of the words",
    "say which word is the longest",
    "return the word that has the greatest number of letters", "identify the lengthiest word",
), WORDS, answer="one word")
def _(rng, part):
    while True:
        ws = made_up_words(rng, part, rng.randint(3, 6), 3, 10)
        lengths = sorted(len(w) for w in ws)
        if lengths[-1] > lengths[-2]:
            return " ".join(ws), max(ws, key=len)


@proc("shortest_word", (
    "find the shortest word", "output the word with the fewest letters", "pick the shortest of the words",
    "say which word is the shortest",
    "return the word that has the smallest number of letters", "identify the briefest word",
), WORDS, answer="one word")
def _(rng, part):
    while True:
        ws = made_up_words(rng, part, rng.randint(3, 6), 3, 10)
        lengths = sorted(len(w) for w in ws)
        if lengths[0] < lengths[1]:
            return " ".join(ws), min(ws, key=len)


@proc("join_with_commas", (
    "join the words with commas", "rewrite the words as a comma-separated list", "put a comma and a space between the words",
    "turn the space-separated words into a list separated by commas",
    "separate the words with ', ' instead of spaces", "list the words, divided by commas",
), WORDS, answer="the comma-separated words")
def _(rng, part):
    ws = made_up_words(rng, part, rng.randint(2, 6))
    return " ".join(ws), ", ".join(ws)


@proc("acronym", (
    "make an acronym from the first letters of the words", "write the initials of the words in capitals",
    "take the first letter of each word and join them in upper case", "form the uppercase acronym of the words",
    "abbreviate the words to their capitalised initial letters", "build an acronym out of the words",
), WORDS, answer="the acronym")
def _(rng, part):
    ws = made_up_words(rng, part, rng.randint(2, 6))
    return " ".join(ws), "".join(w[0] for w in ws).upper()


@proc("snake_case", (
    "join the words with underscores", "convert the words to snake_case", "write the words as one identifier separated by _",
    "replace the spaces between the words with underscores",
    "turn the words into a snake-case name", "connect the words with '_' characters",
), WORDS, answer="the snake_case identifier")
def _(rng, part):
    ws = made_up_words(rng, part, rng.randint(2, 5))
    return " ".join(ws), "_".join(ws)


@proc("camel_case", (
    "convert the words to camelCase", "join the words into one camelCase identifier",
    "write the words together, capitalising every word except the first", "turn the words into a camel-case name",
    "glue the words together with a capital letter starting each word after the first",
    "make a lowerCamelCase identifier from the words",
), WORDS, answer="the camelCase identifier")
def _(rng, part):
    ws = made_up_words(rng, part, rng.randint(2, 4))
    return " ".join(ws), ws[0] + "".join(w.capitalize() for w in ws[1:])


@proc("title_case", (
    "capitalise the first letter of every word", "convert the words to title case",
    "start each word with a capital letter", "write every word with an initial capital",
    "make the first letter of each word uppercase", "put the list of words into title case",
), WORDS, answer="the capitalised words")
def _(rng, part):
    ws = made_up_words(rng, part, rng.randint(2, 6))
    return " ".join(ws), " ".join(w.capitalize() for w in ws)


@proc("dedupe_words", (
    "remove repeated words, keeping the first occurrence of each", "delete duplicate words but keep the order",
    "list each distinct word once, in order of first appearance", "drop the words that already appeared earlier",
    "keep only the first copy of every word", "get rid of repetitions in the word list",
), WORDS, answer="the remaining words separated by spaces")
def _(rng, part):
    ws = made_up_words(rng, part, rng.randint(2, 5))
    seq = ws + [rng.choice(ws) for _ in range(rng.randint(1, 4))]
    rng.shuffle(seq)
    out: list[str] = []
    for w in seq:
        if w not in out:
            out.append(w)
    return " ".join(seq), " ".join(out)


@proc("last_letters", (
    "join the last letters of the words", "take the final letter of each word and concatenate them",
    "write the word formed by the last letter of every word", "collect each word's ending letter into one string",
    "string together the closing letters of the words in order", "concatenate the words' final characters",
), WORDS, answer="the letters as one string")
def _(rng, part):
    ws = made_up_words(rng, part, rng.randint(2, 6))
    return " ".join(ws), "".join(w[-1] for w in ws)


@proc("long_words", (
    "keep only the words longer than five letters", "remove every word with five letters or fewer",
    "filter the list down to words of six or more letters", "list the words that have more than 5 letters",
    "drop the short words (five letters or less) and keep the rest in order",
    "select the words whose length exceeds five letters",
), WORDS, answer="the kept words separated by spaces")
def _(rng, part):
    while True:
        ws = made_up_words(rng, part, rng.randint(3, 7), 3, 9)
        kept = [w for w in ws if len(w) > 5]
        if 0 < len(kept) < len(ws):
            return " ".join(ws), " ".join(kept)


# --- formatting -------------------------------------------------------------------------------------


@proc("wrap_brackets", (
    "wrap the text in square brackets", "put square brackets around the input",
    "enclose the words between [ and ]", "surround the text with a pair of square brackets",
    "place the input inside square brackets", "add an opening [ before the text and a closing ] after it",
), ("a short phrase of made-up words", "a word or two"), answer="the bracketed text")
def _(rng, part):
    ws = made_up_words(rng, part, rng.randint(1, 3))
    return " ".join(ws), "[" + " ".join(ws) + "]"


@proc("make_hashtag", (
    "turn the words into a hashtag", "make a hashtag: a # followed by the words joined without spaces",
    "write the phrase as a single hashtag", "join the words together and prefix them with #",
    "convert the phrase into a social-media hashtag with no spaces", "build a #hashtag out of the words",
), ("a short phrase of made-up words", "two or three words"), answer="the hashtag")
def _(rng, part):
    ws = made_up_words(rng, part, rng.randint(2, 3), 3, 6)
    return " ".join(ws), "#" + "".join(ws)


@proc("thousands_separators", (
    "format the number with commas as thousands separators", "insert commas between groups of three digits",
    "write the number the English way, with a comma every three digits from the right",
    "add thousands separators to the number",
    "group the digits in threes using commas", "make the large number readable with commas",
), ("a large whole number", "a number written without separators"), answer="the formatted number")
def _(rng, part):
    n = rng.randint(1000, 99_999_999)
    return str(n), f"{n:,}"


@proc("iso_to_us_date", (
    "convert the ISO date to US format MM/DD/YYYY", "rewrite the YYYY-MM-DD date as month/day/year",
    "change the date from year-month-day to MM/DD/YYYY", "reformat the date in American style",
    "turn the ISO 8601 date into the MM/DD/YYYY form", "express the date as month, day and year separated by slashes",
), ("a date in YYYY-MM-DD format", "an ISO date"), answer="the date as MM/DD/YYYY")
def _(rng, part):
    y, m, d = rng.randint(1900, 2099), rng.randint(1, 12), rng.randint(1, 28)
    return f"{y:04d}-{m:02d}-{d:02d}", f"{m:02d}/{d:02d}/{y:04d}"


@proc("date_in_words", (
    "write the ISO date out with the month name, like April 5, 2031",
    "convert the YYYY-MM-DD date to the form 'Month day, year'",
    "spell out the month of the date and write it as month name, day, comma, year",
    "turn the numeric date into a written date",
    "express the date in long form with the English month name", "rewrite the date as it would appear in a letter",
), ("a date in YYYY-MM-DD format", "an ISO date"), answer="the written date")
def _(rng, part):
    y, m, d = rng.randint(1900, 2099), rng.randint(1, 12), rng.randint(1, 28)
    return f"{y:04d}-{m:02d}-{d:02d}", f"{MONTHS[m - 1]} {d}, {y}"


@proc("time_24_to_12", (
    "convert the 24-hour time to 12-hour time with AM or PM", "rewrite the time on a 12-hour clock",
    "change the time from 24-hour format to the h:mm AM/PM format", "express the time using AM and PM",
    "turn the military time into ordinary 12-hour clock time", "say the time the 12-hour way, with AM or PM",
), ("a time in HH:MM 24-hour format", "a 24-hour clock time"), answer="the time like 2:05 PM")
def _(rng, part):
    h, m = rng.randint(0, 23), rng.randint(0, 59)
    return f"{h:02d}:{m:02d}", f"{(h % 12) or 12}:{m:02d} {'AM' if h < 12 else 'PM'}"


@proc("phone_format", (
    "format the ten digits as a phone number like (555) 123-4567",
    "write the digits as a North American phone number with the area code in parentheses",
    "insert parentheses, a space and a dash to format the phone number",
    "turn the raw digits into the (XXX) XXX-XXXX phone format",
    "present the ten-digit number as a phone number: area code in brackets, then three digits, a dash and four digits",
    "make the string of digits look like a US telephone number",
), ("ten digits", "a ten-digit phone number without punctuation"), answer="the formatted phone number")
def _(rng, part):
    digits = "".join(str(rng.randint(0, 9)) for _ in range(10))
    return digits, f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


# --- extraction -------------------------------------------------------------------------------------


@proc("extract_number", (
    "extract the number from the sentence", "find the number mentioned in the text", "pull out the only number in the sentence",
    "copy the numeric value that appears in the sentence",
    "locate the number among the words and return it", "pick out the digits that occur in the text",
), SENT, answer="the number")
def _(rng, part):
    n = str(rng.randint(0, 99999))
    return _sentence(_insert(rng, filler(rng, part, rng.randint(3, 8)), n)), n


@proc("extract_name", (
    "extract the capitalised name from the sentence", "find the word that starts with a capital letter",
    "pull out the proper name in the text", "copy the only capitalised word in the sentence",
    "locate the name written with an initial capital and return it", "identify the capitalised word among the lowercase ones",
), SENT, answer="the name")
def _(rng, part):
    name = made_up_word(rng, part, 4, 8).capitalize()
    return _sentence(_insert(rng, filler(rng, part, rng.randint(3, 8)), name)), name


@proc("extract_email", (
    "extract the email address from the sentence", "find the email address in the text",
    "pull out the token that looks like an email", "copy the email address mentioned in the sentence",
    "locate the word with an @ sign and return it", "pick out the email address among the words",
), SENT, answer="the email address")
def _(rng, part):
    email = f"{made_up_word(rng, part, 3, 7)}@{made_up_word(rng, part, 3, 7)}.{rng.choice(TLDS)}"
    return _sentence(_insert(rng, filler(rng, part, rng.randint(3, 7)), email)), email


@proc("email_domain", (
    "give the domain of the email address", "extract the part of the email address after the @",
    "say which domain the email address belongs to", "return everything that follows the @ sign",
    "pull out the mail server name that comes after the @", "strip the user name and the @ from the email address",
), ("an email address", "an address like name@domain.com"), answer="the domain")
def _(rng, part):
    user, dom = made_up_word(rng, part, 3, 7), f"{made_up_word(rng, part, 3, 7)}.{rng.choice(TLDS)}"
    return f"{user}@{dom}", dom


@proc("email_user", (
    "give the user name of the email address", "extract the part of the email address before the @",
    "say who the email address belongs to, as its local part", "return everything that precedes the @ sign",
    "cut the email address at the @ and keep the first half", "strip the @ and the domain from the email address",
), ("an email address", "an address like name@domain.com"), answer="the user name")
def _(rng, part):
    user, dom = made_up_word(rng, part, 3, 7), f"{made_up_word(rng, part, 3, 7)}.{rng.choice(TLDS)}"
    return f"{user}@{dom}", user


@proc("extract_hashtag", (
    "extract the hashtag word from the sentence, without the # sign", "find the word marked with # in the text",
    "return the tag that follows the hash sign", "copy the hashtagged word, dropping the #",
    "locate the word after the # symbol and output it", "pick out which word is used as a hashtag",
), SENT, answer="the tag word")
def _(rng, part):
    tag = made_up_word(rng, part, 3, 8)
    return _sentence(_insert(rng, filler(rng, part, rng.randint(3, 7)), "#" + tag)), tag


@proc("extract_quoted", (
    "extract the text inside the double quotes", "return what is written between the quotation marks",
    "copy the quoted words without the quotes", "find the quotation in the sentence",
    "pull out the part of the sentence enclosed in quotes", "give the words that appear within the quote marks",
), SENT, answer="the quoted text")
def _(rng, part):
    quote = " ".join(made_up_words(rng, part, rng.randint(1, 3)))
    return _sentence(_insert(rng, filler(rng, part, rng.randint(3, 6)), f'"{quote}"')), quote


@proc("extract_parenthesized", (
    "extract the text inside the parentheses", "return what is written between the round brackets",
    "copy the words in parentheses without the brackets", "find the parenthetical remark in the sentence",
    "pull out the part of the sentence enclosed in ( and )", "give the words that appear within the parentheses",
), SENT, answer="the text in parentheses")
def _(rng, part):
    inside = " ".join(made_up_words(rng, part, rng.randint(1, 3)))
    return _sentence(_insert(rng, filler(rng, part, rng.randint(3, 6)), f"({inside})")), inside


@proc("lookup_key", (
    "look up the value stored under the requested key", "find the value paired with the key asked for",
    "return the number assigned to the queried key", "read the key=value pairs and answer with the value of the given key",
    "retrieve the value for the key named on the last line", "say what the requested key is set to",
), ("a list of key=value pairs and a key", "several assignments followed by 'key: ...'"), answer="the value")
def _(rng, part):
    keys = made_up_words(rng, part, rng.randint(2, 5), 3, 6)
    values = [str(rng.randint(0, 999)) for _ in keys]
    k = rng.randrange(len(keys))
    return "; ".join(f"{a}={b}" for a, b in zip(keys, values)) + f"\nkey: {keys[k]}", values[k]


@proc("url_domain", (
    "extract the domain name from the URL", "give the host of the web address, without www",
    "say which website the link points to", "return the domain part of the URL",
    "strip the scheme, www, and path from the URL and keep the domain", "find the site name in the link",
), ("a URL", "a web address"), answer="the domain, such as example.com")
def _(rng, part):
    dom = f"{made_up_word(rng, part, 3, 8)}.{rng.choice(TLDS)}"
    path = "/".join(made_up_words(rng, part, rng.randint(0, 2), 3, 6))
    www = "www." if rng.random() < 0.5 else ""
    return f"https://{www}{dom}/{path}", dom


@proc("largest_in_sentence", (
    "find the largest number mentioned in the sentence", "extract the biggest of the numbers in the text",
    "say which number in the sentence is the greatest", "return the maximum of the numbers that appear",
    "pick out the highest value among the numbers in the sentence", "locate the largest number in the text",
), SENT, answer="the number")
def _(rng, part):
    nums = rng.sample(range(1000), rng.randint(2, 4))
    words = filler(rng, part, rng.randint(3, 6))
    for n in nums:
        words = _insert(rng, words, str(n))
    return _sentence(words), str(max(nums))


# --- arithmetic -------------------------------------------------------------------------------------


@proc("add_two", (
    "add the two numbers", "compute the sum of the two numbers", "give the total of the pair of numbers",
    "work out what the two numbers add up to",
    "calculate the first number plus the second", "find how much the two numbers make together",
), TWO_NUMBERS, answer="the sum")
def _(rng, part):
    a, b = _numbers(rng, 2, 10, 999)
    return f"{a} {b}", str(a + b)


@proc("subtract_two", (
    "subtract the second number from the first", "compute the first number minus the second",
    "give the difference when the second number is taken away from the first", "take the second number away from the first",
    "calculate how much larger the first number is than the second", "work out the first value minus the second value",
), TWO_NUMBERS, answer="the difference")
def _(rng, part):
    a, b = sorted(_numbers(rng, 2, 10, 999), reverse=True)
    return f"{a} {b}", str(a - b)


@proc("multiply_two", (
    "multiply the two numbers", "compute the product of the two numbers", "give the result of multiplying the numbers together",
    "work out the first number times the second",
    "calculate what the two numbers make when multiplied", "find the product of the pair of numbers",
), TWO_NUMBERS, answer="the product")
def _(rng, part):
    a, b = rng.randint(2, 12), rng.randint(2, 99)
    if rng.random() < 0.5:
        a, b = b, a
    return f"{a} {b}", str(a * b)


@proc("max_two", (
    "give the larger of the two numbers", "say which of the two numbers is bigger", "return the maximum of the pair",
    "pick the greater number",
    "output whichever of the two numbers is higher", "choose the bigger value of the two",
), TWO_NUMBERS, answer="the larger number")
def _(rng, part):
    a, b = rng.sample(range(1000), 2)
    return f"{a} {b}", str(max(a, b))


@proc("min_two", (
    "give the smaller of the two numbers", "say which of the two numbers is smaller", "return the minimum of the pair",
    "pick the lesser number",
    "output whichever of the two numbers is lower", "choose the smaller value of the two",
), TWO_NUMBERS, answer="the smaller number")
def _(rng, part):
    a, b = rng.sample(range(1000), 2)
    return f"{a} {b}", str(min(a, b))


@proc("absolute_difference", (
    "compute the absolute difference of the two numbers", "say how far apart the two numbers are",
    "give the distance between the two numbers on the number line", "subtract the smaller number from the larger one",
    "work out the gap between the two values", "find the positive difference between the numbers",
), TWO_NUMBERS, answer="the difference")
def _(rng, part):
    a, b = _numbers(rng, 2, 0, 999)
    return f"{a} {b}", str(abs(a - b))


@proc("remainder", (
    "compute the remainder when the first number is divided by the second", "give the first number modulo the second",
    "find what is left over after dividing the first number by the second", "calculate the first number mod the second",
    "work out the remainder of the division of the first value by the second", "say what remains when you divide the first number by the second",
), TWO_NUMBERS, answer="the remainder")
def _(rng, part):
    a, b = rng.randint(10, 200), rng.randint(2, 12)
    return f"{a} {b}", str(a % b)


@proc("parity", (
    "decide whether the number is even or odd", "tell whether the number is divisible by two",
    "classify the number as even or odd", "say if the number is even or odd",
    "determine the parity of the number", "check whether the number leaves a remainder when halved",
), ONE_NUMBER, labels=("even", "odd"))
def _(rng, part):
    n = rng.randint(0, 99999)
    return str(n), "even" if n % 2 == 0 else "odd"


@proc("double_number", (
    "double the number", "multiply the number by two", "give twice the number", "compute two times the number",
    "work out the number added to itself", "make the number twice as large",
), ONE_NUMBER, answer="the result")
def _(rng, part):
    n = rng.randint(0, 5000)
    return str(n), str(2 * n)


@proc("square_number", (
    "square the number", "multiply the number by itself", "give the square of the number", "compute the number to the power of two",
    "work out the number times itself", "raise the number to the second power",
), ONE_NUMBER, answer="the result")
def _(rng, part):
    n = rng.randint(0, 150)
    return str(n), str(n * n)


@proc("increment", (
    "add one to the number", "give the next whole number", "increase the number by 1", "compute the number plus one",
    "say which integer comes right after the number", "count one step up from the number",
), ONE_NUMBER, answer="the result")
def _(rng, part):
    n = rng.randint(0, 99999)
    return str(n), str(n + 1)


@proc("round_to_ten", (
    "round the number to the nearest ten", "give the number rounded to the closest multiple of 10",
    "round the number to tens, with 5 rounding up", "approximate the number to the nearest multiple of ten",
    "round the value to one significant ten, halves going up", "replace the number with the nearest multiple of ten",
), ONE_NUMBER, answer="the rounded number")
def _(rng, part):
    n = rng.randint(0, 9999)
    return str(n), str((n + 5) // 10 * 10)


@proc("digit_sum", (
    "add up the digits of the number", "compute the sum of the number's digits", "give the digit sum of the number",
    "total the individual digits of the number",
    "work out what the digits of the number add up to", "sum every digit in the number",
), ONE_NUMBER, answer="the sum")
def _(rng, part):
    n = rng.randint(10, 999999)
    return str(n), str(sum(int(c) for c in str(n)))


@proc("count_digits", (
    "count the digits of the number", "say how many digits the number has", "give the number of digits",
    "work out how long the number is, in digits",
    "tell me the digit count of the number", "find out how many figures the number is written with",
), ONE_NUMBER, answer="the count")
def _(rng, part):
    n = rng.randint(0, 10 ** rng.randint(1, 9))
    return str(n), str(len(str(n)))


@proc("divisible_by_three", (
    "decide whether the number is divisible by 3", "tell whether the number is a multiple of three",
    "check if 3 divides the number exactly", "say if the number can be divided by three with no remainder",
    "determine whether three goes into the number evenly", "judge if the number is a multiple of 3",
), ONE_NUMBER, labels=("yes", "no"))
def _(rng, part):
    n = rng.randint(1, 9999)
    return str(n), _yes(n % 3 == 0)


@proc("number_to_words", (
    "write the number in English words", "spell out the number", "convert the number to words, like forty-seven",
    "give the English name of the number",
    "express the number in words instead of digits", "say the number out loud, written as words",
), ("a whole number below 100", "a number"), answer="the number in words, hyphenated like twenty-one")
def _(rng, part):
    n = rng.randint(0, 99)
    return str(n), number_words(n)


@proc("roman_numeral", (
    "convert the number to Roman numerals", "write the number as a Roman numeral", "give the Roman numeral for the number",
    "express the number the way the Romans wrote it",
    "translate the number into Roman numeral notation", "turn the number into Roman numerals such as XIV",
), ("a number between 1 and 399", "a whole number"), answer="the Roman numeral")
def _(rng, part):
    n = rng.randint(1, 399)
    return str(n), roman(n)


@proc("sum_list", (
    "add up all the numbers", "compute the sum of the list", "give the total of the numbers", "sum the numbers",
    "work out what the numbers add up to altogether", "find the combined total of all the values",
), NUMBER_LIST, answer="the sum")
def _(rng, part):
    nums = _numbers(rng, rng.randint(2, 6), 0, 50)
    return ", ".join(map(str, nums)), str(sum(nums))


@proc("sort_numbers", (
    "sort the numbers in ascending order", "order the numbers from smallest to largest",
    "arrange the list in increasing order", "put the numbers in ascending order",
    "rearrange the values so that they go up from the smallest", "list the numbers sorted from low to high",
), NUMBER_LIST, answer="the sorted numbers separated by commas")
def _(rng, part):
    nums = _numbers(rng, rng.randint(3, 7), 0, 99)
    return ", ".join(map(str, nums)), ", ".join(map(str, sorted(nums)))


@proc("count_above_fifty", (
    "count how many numbers are greater than 50", "say how many of the numbers exceed fifty",
    "give the number of values above 50", "count the numbers larger than 50",
    "work out how many entries in the list are bigger than fifty", "tally the numbers over 50",
), NUMBER_LIST, answer="the count")
def _(rng, part):
    nums = _numbers(rng, rng.randint(3, 8), 0, 100)
    return ", ".join(map(str, nums)), str(sum(n > 50 for n in nums))


@proc("is_sorted", (
    "decide whether the numbers are in ascending order", "tell whether the list is sorted from smallest to largest",
    "check if each number is at least as large as the one before", "say if the list is already in increasing order",
    "determine whether the values never go down", "judge if the numbers are arranged in ascending order",
), NUMBER_LIST, labels=("yes", "no"))
def _(rng, part):
    nums = _numbers(rng, rng.randint(3, 7), 0, 99)
    if rng.random() < 0.5:
        nums.sort()
    return ", ".join(map(str, nums)), _yes(nums == sorted(nums))


@proc("range_of_list", (
    "compute the range of the numbers (largest minus smallest)", "subtract the smallest number from the largest",
    "give the difference between the maximum and the minimum", "find how widely the numbers spread: max minus min",
    "work out the gap between the biggest and smallest values", "calculate the largest value minus the smallest value",
), NUMBER_LIST, answer="the range")
def _(rng, part):
    nums = _numbers(rng, rng.randint(2, 7), 0, 99)
    return ", ".join(map(str, nums)), str(max(nums) - min(nums))


# --- keyword-rule classification -------------------------------------------------------------------


@proc("sentiment_lexicon", (
    "classify the sentiment of the sentence as positive or negative from its sentiment word",
    "decide whether the sentence is positive or negative, judging by its emotional words",
    "tell whether the sentence expresses a positive or a negative feeling", "label the sentence's sentiment",
    "determine if the opinion in the sentence is favourable or unfavourable",
    "work out whether the sentence sounds positive or negative",
), SENT, labels=("positive", "negative"))
def _(rng, part):
    label = rng.choice(("positive", "negative"))
    lexicon = POSITIVE if label == "positive" else NEGATIVE
    words = filler(rng, part, rng.randint(3, 7))
    for w in rng.sample(lexicon, rng.randint(1, 2)):
        words = _insert(rng, words, w)
    return _sentence(words), label


@proc("topic_keyword", (
    "classify the topic of the sentence as sports, food, weather or music",
    "decide what the sentence is about from its keyword: sports, food, weather or music",
    "tell which topic the sentence belongs to", "label the subject of the sentence",
    "determine whether the sentence talks about sports, food, weather or music",
    "work out the theme of the sentence from the familiar word in it",
), SENT, labels=tuple(TOPICS))
def _(rng, part):
    topic = rng.choice(tuple(TOPICS))
    return _sentence(_insert(rng, filler(rng, part, rng.randint(3, 7)), rng.choice(TOPICS[topic]))), topic


@proc("question_or_statement", (
    "decide whether the sentence is a question or a statement", "tell whether the text asks something or states something",
    "classify the sentence as a question or a statement from its final punctuation",
    "say if the sentence is a question",
    "determine whether the sentence ends as a question or as a statement", "label the sentence type: question or statement",
), SENT, labels=("question", "statement"))
def _(rng, part):
    label = rng.choice(("question", "statement"))
    return _sentence(filler(rng, part, rng.randint(3, 8)), "?" if label == "question" else "."), label


@proc("contains_digit", (
    "decide whether the token contains a digit", "tell whether any character of the string is a number",
    "check if the word has a digit in it", "say if the string includes a numeral",
    "determine whether a digit appears anywhere in the token", "judge if the text contains any of 0-9",
), ("a token of letters and maybe digits", "a short string"), labels=("yes", "no"))
def _(rng, part):
    w = made_up_word(rng, part, 4, 9)
    if rng.random() < 0.5:
        i = rng.randrange(len(w) + 1)
        w = w[:i] + str(rng.randint(0, 9)) + w[i:]
    return w, _yes(any(c.isdigit() for c in w))


@proc("urgency", (
    ("classify the message as urgent or normal: urgent if it contains a word like urgent, immediately, asap, "
     "emergency, now or quickly"),
    "decide whether the message is urgent, based on urgency keywords",
    "tell whether the note asks for something urgently", "label the message's priority as urgent or normal",
    "determine if the message contains an urgency word and so is urgent",
    "work out whether the message needs immediate attention",
), ("a short message of made-up words", "a message"), labels=("urgent", "normal"))
def _(rng, part):
    label = rng.choice(("urgent", "normal"))
    words = filler(rng, part, rng.randint(3, 7))
    if label == "urgent":
        words = _insert(rng, words, rng.choice(URGENT))
    return _sentence(words), label


@proc("mentions_animal", (
    "decide whether the sentence mentions an animal", "tell whether an animal word appears in the sentence",
    "check if the text names an animal", "say if any of the words is an animal",
    "determine whether the sentence refers to some animal", "judge if an animal is mentioned",
), SENT, labels=("yes", "no"))
def _(rng, part):
    want = rng.random() < 0.5
    words = filler(rng, part, rng.randint(3, 7))
    if want:
        words = _insert(rng, words, rng.choice(ANIMALS))
    return _sentence(words), _yes(want)


@proc("extract_colour", (
    "find the colour word in the sentence", "say which colour the sentence mentions", "extract the colour named in the text",
    "return the colour that appears in the sentence",
    "pick out the word that names a colour", "identify the colour mentioned among the words",
), SENT, answer="the colour")
def _(rng, part):
    colour = rng.choice(COLOURS)
    return _sentence(_insert(rng, filler(rng, part, rng.randint(3, 7)), colour)), colour


@proc("negation", (
    "decide whether the sentence is negated (contains not, never or no)", "tell whether the sentence uses a negation word",
    "classify the sentence as negative or affirmative by looking for not, never or no",
    "say if the sentence is a negation",
    "determine whether a negating word such as not, never or no occurs in the sentence",
    "judge if the statement is negated",
), SENT, labels=("negated", "affirmative"))
def _(rng, part):
    label = rng.choice(("negated", "affirmative"))
    words = filler(rng, part, rng.randint(3, 7))
    if label == "negated":
        words = _insert(rng, words, rng.choice(NEGATIONS))
    return _sentence(words), label


def procedural_record(spec: Proc) -> Record:
    rng = random.Random(f"procedural:{spec.name}")
    train: list[dict] = []
    evals: list[dict] = []
    seen: set[str] = set()
    for part, rows, n in (("heldout", evals, N_EVAL), ("train", train, N_TRAIN)):
        tries = 0
        while len(rows) < n:
            tries += 1
            if tries > 100 * n:
                raise RuntimeError(f"{spec.name}: cannot draw {n} distinct {part} inputs")
            inp, target = spec.gen(rng, part)
            if inp in seen:
                continue
            seen.add(inp)
            rows.append(_example(inp, target))
    if spec.labels is not None:
        formats = spec.formats or label_formats(spec.labels)
        for row in train + evals:
            assert row["target"] in spec.labels, (spec.name, row)
    else:
        formats = spec.formats or answer_formats(spec.answer)
    d_train, d_eval = make_descriptions(spec.name, spec.actions, spec.given, formats)
    return Record(
        name=f"procedural/{spec.name}", source="procedural", license="Apache-2.0", group="procedural",
        origin=f"scripts/build_task_corpus.py:{spec.name}", descriptions_train=d_train, descriptions_eval=d_eval,
        train=train, eval=evals, metric="choice" if spec.labels else "exact", choices=spec.labels,
    )


# ---------------------------------------------------------------------------------------------------
# Assembly


def choose_heldout(records: list[Record]) -> list[str]:
    """Per (group, kind), the names with the smallest CRC32: deterministic, blind to task content."""
    heldout = []
    for key, k in HELDOUT_PER_GROUP.items():
        names = [r.name for r in records if f"{r.group}/{r.kind}" == key]
        if len(names) <= k:
            raise ValueError(f"group {key} has {len(names)} tasks, cannot hold out {k}")
        heldout.extend(sorted(names, key=lambda n: (zlib.crc32(n.encode()), n))[:k])
    return sorted(heldout)


def widen_heldout_eval(record: Record) -> None:
    """A held-out task is never trained on: move training examples to eval (up to N_EVAL), keeping a few shots."""
    k = max(0, min(N_EVAL - len(record.eval), len(record.train) - MIN_HELDOUT_SHOTS))
    record.eval, record.train = record.eval + record.train[:k], record.train[k:]


def build(source: Path) -> dict:
    probe = read_bigbench(source, [f"list_functions/{cid}" for cid, _ in LIST_FUNCTIONS] + [s.path for s in BIGBENCH])
    specs = BIGBENCH + _list_function_specs(probe)
    records = [bigbench_record(spec, probe[spec.path]) for spec in specs]
    canaries = {d.get("canary") for d in probe.values()}
    records += [procedural_record(spec) for spec in PROCEDURAL]
    names = [r.name for r in records]
    if len(set(names)) != len(names):
        raise AssertionError("duplicate task names")
    heldout = choose_heldout(records)
    for r in records:
        r.split = "heldout" if r.name in heldout else "train"
        if r.split == "heldout":
            widen_heldout_eval(r)
    counts: dict[str, dict[str, int]] = {}
    for r in records:
        counts.setdefault(r.source, {"train": 0, "heldout": 0})[r.split] += 1
    return {
        "format": FORMAT,
        "version": VERSION,
        "built_by": "scripts/build_task_corpus.py",
        "seed": SEED,
        "examples_per_task": {"train": N_TRAIN, "eval": N_EVAL},
        "descriptions_per_task": {"train": N_TRAIN_DESCRIPTIONS, "eval": N_EVAL_DESCRIPTIONS},
        "sources": {
            "bigbench": {
                "what": "BIG-bench JSON tasks (Beyond the Imitation Game benchmark), a filtered subset",
                "package": f"bigbench=={BIGBENCH_VERSION} (PyPI source distribution)",
                "sdist": source.name,
                "sdist_sha256": sha256(source),
                "homepage": "https://github.com/google/BIG-bench",
                "license": "Apache-2.0",
                "canary": sorted(c for c in canaries if c),
                "note": "BIG-bench asks that its data not appear in (pre)training corpora; the canary above marks it. "
                        "Training tasks here are meta-training data, so scores on them are not benchmark results; "
                        "held-out BIG-bench tasks are never trained on.",
                "changes": "examples sampled and capped per task; per-example options appended to the input as "
                           "'Options: a | b | c'; a fixed instruction prefix removed from logical_fallacy_detection "
                           "inputs; trailing periods dropped in tracking_shuffled_objects; descriptions paraphrased",
            },
            "procedural": {
                "what": "tasks generated by scripts/build_task_corpus.py from made-up words and random numbers",
                "license": "Apache-2.0",
            },
        },
        "heldout": heldout,
        "heldout_rule": "per group/kind (" + ", ".join(f"{g}: {k}" for g, k in HELDOUT_PER_GROUP.items())
                        + "), the task names with the smallest zlib.crc32; held-out tasks move training examples "
                          f"to eval up to {N_EVAL}, keeping at least {MIN_HELDOUT_SHOTS} for few-shot baselines",
        "counts": counts,
        "tasks": [r.to_json() for r in records],
    }


def write(corpus: dict, out: Path) -> int:
    data = json.dumps(corpus, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    blob = gzip.compress(data, compresslevel=9, mtime=0)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(blob)
    return len(blob)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sdist", type=Path, default=None,
                        help="bigbench source distribution (.tar.gz) or its extracted directory; "
                             f"default: pip download bigbench=={BIGBENCH_VERSION} into a temporary directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    if args.sdist is None:
        with tempfile.TemporaryDirectory() as tmp:
            corpus = build(fetch_sdist(Path(tmp)))
    else:
        corpus = build(args.sdist)
    size = write(corpus, args.out)
    print(f"wrote {args.out} ({size:,} bytes): {json.dumps(corpus['counts'])}")
    print("held out:", ", ".join(corpus["heldout"]))


if __name__ == "__main__":
    main()
