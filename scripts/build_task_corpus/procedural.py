"""The procedural half of the corpus: string, formatting, extraction, arithmetic and keyword-rule
tasks generated from an open vocabulary (made-up words, random numbers), so answers must be
computed, never memorised; evaluation inputs use the held-out half of `word_split`."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lora_memory.data.synthetic import word_split
from lora_memory.data.task_corpus import Task, TaskExample

from .descriptions import Describe, answer_formats, label_formats, make_descriptions
from .records import N_EVAL, N_TRAIN, Record, example

ORIGIN = "scripts/build_task_corpus.py"  # the builder as the shipped corpus names it (a task: ORIGIN:name)


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
    family: str = ""  # the section the task is declared in ("arithmetic", ...): v2's task family


PROCEDURAL: list[Proc] = []
_SECTION = [""]  # the family of the tasks declared next (`section`)


def section(family: str) -> None:
    """Tasks declared from here on belong to ``family`` (the v2 corpus holds out whole families)."""
    _SECTION[0] = family


def proc(name: str, actions: tuple[str, ...], given: tuple[str, ...], answer: str | None = None,
         labels: tuple[str, ...] | None = None, formats: tuple[str, ...] | None = None,
         registry: list[Proc] = PROCEDURAL):
    """Register the decorated generator ``(rng, part) -> (input, target)`` as a task in ``registry``."""
    def register(gen: Callable[[random.Random, str], tuple[str, str]]):
        registry.append(Proc(name, gen, actions, given, answer, labels, formats, _SECTION[0]))
        return gen
    return register


WORD = ("a made-up word", "a single lowercase word")
WORDS = ("a list of made-up words separated by spaces", "several lowercase words")
SENT = ("a sentence of made-up words", "a short sentence")
ONE_NUMBER = ("a whole number", "a number")
TWO_NUMBERS = ("two numbers separated by a space", "a pair of whole numbers")
NUMBER_LIST = ("a comma-separated list of numbers", "a list of whole numbers")

# --- single-word transforms ------------------------------------------------------------------------
section("word-transforms")


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
section("word-lists")


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
section("formatting")


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
section("extraction")


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
section("arithmetic")


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
section("keyword-rules")


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


def procedural_record(spec: Proc, describe: Describe = make_descriptions, family: str = "") -> Record:
    """``spec``'s corpus task; ``describe`` writes the descriptions (v1's frames by default),
    ``family`` is set in the v2 corpus."""
    rng = random.Random(f"procedural:{spec.name}")
    train: list[TaskExample] = []
    evals: list[TaskExample] = []
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
            rows.append(example(inp, target))
    if spec.labels is not None:
        formats = spec.formats or label_formats(spec.labels)
        for row in train + evals:
            assert row.target in spec.labels, (spec.name, row)
    else:
        formats = spec.formats or answer_formats(spec.answer)
    d_train, d_eval = describe(spec.name, spec.actions, spec.given, formats)
    task = Task(
        name=f"procedural/{spec.name}", source="procedural", license="Apache-2.0", split="train",
        descriptions_train=d_train, descriptions_eval=d_eval, train=tuple(train), eval=tuple(evals),
        metric="choice" if spec.labels else "exact", choices=spec.labels, origin=f"{ORIGIN}:{spec.name}",
        family=family,
    )
    return Record(task, "procedural")

