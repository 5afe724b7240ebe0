"""The v2 corpus's added procedural tasks: formatting-only tasks (the reply's form is the whole
task: one word, JSON, upper case, a list, ...), which is what an agent builder asks of a skill,
and a family of number-extraction tasks ("reply with only the year").

Inputs come from the same open vocabulary as `procedural` (made-up words, random numbers), so the
answer is always computed from the input; evaluation inputs use the held-out half of `word_split`.
"""

from __future__ import annotations

import json
import random

from .procedural import SENT, WORDS, Proc, filler, made_up_word, made_up_words, proc, section

FORMATTING: list[Proc] = []

TEXT = ("a short piece of text", "a phrase of made-up words")
REPLY = ("a wordy reply that contains one answer word", "a rambling answer sentence")
RECORD = ("a record of fields written as 'key: value' pairs", "a few key/value pairs separated by semicolons")
NUMBER_SENTENCE = ("a sentence that mentions a number", "a short statement with a figure in it")
DATED = ("a sentence that mentions a year", "a short statement about when something happened")

_HEDGES = (
    "I think the answer is {w}.", "Well, as far as I can tell it is {w}, but I may be wrong.",
    "The answer you are looking for is {w}.", "Probably {w}, if I remember correctly.",
    "After thinking about it, I would say {w}.", "It should be {w}, I believe.",
    "My best guess would be {w}.", "That would be {w}, most likely.",
)
_KEYS = ("name", "city", "colour", "pet", "team", "tool", "fruit", "street")
_UNITS = ("apples", "metres", "boxes", "tickets", "people", "euros", "pages", "coins")


def _phrase(rng: random.Random, part: str) -> list[str]:
    return filler(rng, part, rng.randint(2, 5))


section("formatting-only")


@proc("one_word_answer", (
    "cut the reply down to the single word that answers", "strip the reply to its answer word",
    "keep only the answer word from the reply", "remove everything but the one word that is the answer",
    "boil the reply down to just its answer", "drop the filler and keep the answer word",
), REPLY, answer="one word", registry=FORMATTING, formats=(
    "Answer in one word.", "Reply with a single word.", "Your answer must be exactly one word.",
    "One word only, no punctuation.", "Respond with just one word.", "Use one word and nothing more.",
))
def _(rng, part):
    w = made_up_word(rng, part)
    return rng.choice(_HEDGES).format(w=w), w


@proc("json_answer", (
    "wrap the text as the value of an \"answer\" key in JSON", "put the text into a JSON object under the key answer",
    "return the text as JSON with the field answer", "encode the text as {\"answer\": ...}",
    "store the text in a JSON object's answer field", "give the text back as a JSON object keyed by answer",
), TEXT, answer="a JSON object", registry=FORMATTING, formats=(
    "Reply in JSON.", "Answer with a JSON object only.", "Output valid JSON and nothing else.",
    "The reply must be a single JSON object.", "Respond only with JSON.", "Format your whole reply as JSON.",
))
def _(rng, part):
    text = " ".join(_phrase(rng, part))
    return text, json.dumps({"answer": text})


@proc("upper_case_text", (
    "rewrite the text in upper case", "put every letter of the text in capitals",
    "shout the text back in capital letters",
    "convert the whole text to uppercase", "write the text again using only capital letters",
    "repeat the text in all caps",
), SENT, answer="the text in upper case", registry=FORMATTING, formats=(
    "Answer in upper case.", "Reply in capital letters only.", "Use ALL CAPS for the reply.",
    "Write your answer entirely in uppercase.", "Respond in upper case letters.", "The reply must be all capitals.",
))
def _(rng, part):
    text = " ".join(_phrase(rng, part)) + "."
    return text, text.upper()


@proc("lower_case_text", (
    "rewrite the text in lower case", "put every letter of the text in small letters",
    "convert the whole text to lowercase", "write the text again with no capital letters",
    "repeat the text with every capital turned into a small letter", "lowercase the text",
), TEXT, answer="the text in lower case", registry=FORMATTING, formats=(
    "Answer in lower case.", "Reply in small letters only.", "Use no capital letters in the reply.",
    "Write the answer entirely in lowercase.", "Respond in lower case letters.", "The reply must contain no capitals.",
))
def _(rng, part):
    words = [w.upper() if rng.random() < 0.5 else w.capitalize() for w in _phrase(rng, part)]
    text = " ".join(words)
    return text, text.lower()


@proc("json_list", (
    "turn the words into a JSON list of strings", "write the words as a JSON array",
    "return the words as a list in JSON", "encode the space-separated words as a JSON array of strings",
    "put each word into a JSON list, in order", "give the words back as a JSON array",
), WORDS, answer="a JSON array", registry=FORMATTING, formats=(
    "Reply with a JSON array.", "Answer in JSON: a list of strings.", "Output the JSON list only.",
    "Respond with valid JSON, a single array.", "Your reply must be one JSON array.", "Give only the JSON array.",
))
def _(rng, part):
    words = _phrase(rng, part)
    return " ".join(words), json.dumps(words)


@proc("json_record", (
    "convert the key/value pairs into a JSON object", "write the fields as JSON",
    "turn the 'key: value' record into a JSON object with the same keys", "encode the record as a JSON object",
    "rewrite the pairs as one JSON object, keys and values as strings", "give the record back in JSON form",
), RECORD, answer="a JSON object", registry=FORMATTING, formats=(
    "Reply in JSON.", "Answer with a JSON object only.", "Output valid JSON and nothing else.",
    "The reply must be a single JSON object.", "Respond only with JSON.", "Format your whole reply as JSON.",
))
def _(rng, part):
    keys = rng.sample(_KEYS, rng.randint(2, 3))
    values = made_up_words(rng, part, len(keys))
    return "; ".join(f"{k}: {v}" for k, v in zip(keys, values)), json.dumps(dict(zip(keys, values)))


@proc("bullet_list", (
    "put the comma-separated items on a bulleted list", "write each item as a bullet point",
    "turn the items into a Markdown list with dashes", "list the items one per line, each after a dash",
    "format the items as a bullet list", "make a dashed list of the items",
), ("a comma-separated list of items", "items separated by commas"), answer="a bulleted list",
    registry=FORMATTING, formats=(
    "Reply with a bulleted list.", "Answer as a Markdown list, one item per line.", "Use '- ' bullets, one per line.",
    "Respond with a dash list only.", "Give a bullet list and nothing else.", "Format the reply as bullet points.",
))
def _(rng, part):
    items = made_up_words(rng, part, rng.randint(2, 5))
    return ", ".join(items), "\n".join(f"- {x}" for x in items)


@proc("numbered_list", (
    "number the comma-separated items, one per line", "write the items as a numbered list",
    "turn the items into an ordered list starting at 1", "list the items one per line with their position",
    "format the items as 1., 2., 3. and so on", "make a numbered list of the items",
), ("a comma-separated list of items", "items separated by commas"), answer="a numbered list",
    registry=FORMATTING, formats=(
    "Reply with a numbered list.", "Answer as '1. item' lines.", "Use a numbered list, one item per line.",
    "Respond with an ordered list only.", "Give a numbered list and nothing else.", "Format the reply as 1., 2., 3.",
))
def _(rng, part):
    items = made_up_words(rng, part, rng.randint(2, 5))
    return ", ".join(items), "\n".join(f"{i}. {x}" for i, x in enumerate(items, 1))


@proc("quoted_text", (
    "put the text in double quotes", "wrap the text in quotation marks", "return the text quoted",
    "surround the text with double quotation marks", "quote the text exactly", "enclose the text in quotes",
), TEXT, answer="the quoted text", registry=FORMATTING, formats=(
    "Reply with the text in double quotes.", "Answer in quotation marks.", "Your reply must be quoted.",
    "Respond with the quoted text only.", "Wrap the whole reply in double quotes.", "Give only the quoted string.",
))
def _(rng, part):
    text = " ".join(_phrase(rng, part))
    return text, f'"{text}"'


@proc("answer_tag", (
    "wrap the text in <answer> tags", "put the text between <answer> and </answer>",
    "return the text inside an answer tag", "enclose the text in XML answer tags",
    "mark the text up as <answer>...</answer>", "tag the text as the answer",
), TEXT, answer="the text in answer tags", registry=FORMATTING, formats=(
    "Reply with <answer>...</answer>.", "Answer inside <answer></answer> tags.", "Use the tag format for the reply.",
    "Respond only with the tagged text.", "The reply must be wrapped in answer tags.", "Give just the tagged answer.",
))
def _(rng, part):
    text = " ".join(_phrase(rng, part))
    return text, f"<answer>{text}</answer>"


@proc("kebab_case", (
    "join the words with hyphens in lower case", "write the words as a kebab-case slug",
    "turn the words into a URL slug", "connect the words with dashes, all lowercase",
    "make a lowercase hyphenated identifier from the words", "slugify the words",
), WORDS, answer="the kebab-case slug", registry=FORMATTING, formats=(
    "Reply in kebab-case.", "Answer with the slug only.", "Output one hyphenated lowercase word.",
    "Respond with the dashed identifier.", "Your reply must be kebab-case, no spaces.", "Give only the slug.",
))
def _(rng, part):
    words = [w.capitalize() if rng.random() < 0.3 else w for w in _phrase(rng, part)]
    return " ".join(words), "-".join(w.lower() for w in words)


@proc("sentence_case", (
    "turn the words into a proper sentence: capital first letter and a final period",
    "capitalise the first word and end the text with a full stop", "make the text a well-formed sentence",
    "fix the text's capital and closing period", "start the text with a capital letter and finish it with a period",
    "punctuate the text as a sentence",
), ("lowercase words with no punctuation", "an unpunctuated phrase"), answer="the sentence",
    registry=FORMATTING, formats=(
    "Reply with one sentence.", "Answer with the corrected sentence only.", "Output a single full sentence.",
    "Respond with the sentence and nothing else.", "Your reply must be one sentence ending in a period.",
    "Give only the fixed sentence.",
))
def _(rng, part):
    text = " ".join(_phrase(rng, part))
    return text, text[:1].upper() + text[1:] + "."


section("numbers-in-text")


@proc("year_only", (
    "give the year the sentence mentions", "extract the year from the statement", "say in which year it happened",
    "pull out the year", "find the four-digit year in the text", "tell me the year",
), DATED, answer="the year", registry=FORMATTING, formats=(
    "Reply with only the year.", "Answer with the year and nothing else.", "Just the four digits of the year.",
    "Output only the year.", "Respond with the year alone.", "Give the year as four digits, no words.",
))
def _(rng, part):
    year = rng.randint(1500, 2030)
    name, place = made_up_words(rng, part, 2)
    frame = rng.choice((
        "{n} founded the town of {p} in {y}.", "In {y}, {n} moved to {p}.",
        "The bridge at {p} was built in {y} by {n}.",
        "{n} was born in {p} in the year {y}.", "Back in {y} the people of {p} elected {n}.",
    ))
    return frame.format(n=name.capitalize(), p=place.capitalize(), y=year), str(year)


@proc("count_only", (
    "give how many items the sentence counts", "extract the quantity from the statement",
    "say how many there are", "pull out the count", "find the number of things mentioned", "tell me the amount",
), NUMBER_SENTENCE, answer="the number", registry=FORMATTING, formats=(
    "Reply with only the number.", "Answer with digits only.", "Just the number, no units.",
    "Output the number alone.", "Respond with a numeral and nothing else.", "Give the count as digits only.",
))
def _(rng, part):
    n, unit, name = rng.randint(2, 999), rng.choice(_UNITS), made_up_word(rng, part).capitalize()
    frame = rng.choice(("{w} bought {n} {u} last week.", "There were {n} {u} in {w}'s bag.",
                        "{w} counted {n} {u} before noon.", "All together {w} has {n} {u}."))
    return frame.format(w=name, n=n, u=unit), str(n)


@proc("unit_only", (
    "say what unit or kind of thing the sentence counts", "extract the unit of the quantity",
    "name what is being counted", "pull out the counted noun", "find the unit after the number",
    "tell me what the number counts",
), NUMBER_SENTENCE, answer="the unit word", registry=FORMATTING, formats=(
    "Answer in one word.", "Reply with a single word.", "Just the unit, one word.",
    "Output only that word.", "Respond with one word and nothing else.", "Give one lowercase word.",
))
def _(rng, part):
    n, unit, name = rng.randint(2, 999), rng.choice(_UNITS), made_up_word(rng, part).capitalize()
    return f"{name} has {n} {unit}.", unit


@proc("person_only", (
    "say who the sentence is about", "extract the name of the person", "name the person mentioned",
    "pull out the capitalised name", "find who did it", "tell me the person's name",
), DATED, answer="the name", registry=FORMATTING, formats=(
    "Answer in one word.", "Reply with the name only.", "Just the name, nothing else.",
    "Output only the name.", "Respond with one capitalised word.", "Give the name alone.",
))
def _(rng, part):
    name, place = (w.capitalize() for w in made_up_words(rng, part, 2))
    return f"In {rng.randint(1500, 2030)}, {name} moved to {place}.", name

