"""The BIG-bench half of the corpus: which JSON tasks, how each becomes a corpus task, and reading
them from the ``bigbench`` source distribution."""

from __future__ import annotations

import hashlib
import json
import random
import re
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from lora_memory.data.task_corpus import Task, TaskExample

from .descriptions import OPTION_FORMATS, Describe, answer_formats, label_formats, make_descriptions
from .records import MAX_INPUT_CHARS, MAX_TARGET_CHARS, MIN_EXAMPLES, N_EVAL, N_TRAIN, Record, example

BIGBENCH_VERSION = "1.0.0"


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


def _balanced_order(rows: list[TaskExample], rng: random.Random) -> list[TaskExample]:
    """Round-robin over labels (each shuffled), so every prefix is close to label-balanced."""
    by_label: dict[str, list[dict]] = {}
    for row in rows:
        by_label.setdefault(row.target, []).append(row)
    queues = [by_label[k] for k in sorted(by_label)]
    rng.shuffle(queues)
    out = []
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop())
    return out


def bigbench_record(spec: BB, data: dict, describe: Describe = make_descriptions, family: str = "") -> Record:
    """``spec``'s corpus task from its task.json ``data``; ``describe`` writes the descriptions
    (v1's frames by default), ``family`` is set in the v2 corpus."""
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
            rows.append(example(shown, target, options))
        else:
            rows.append(example(inp, target))
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
    d_train, d_eval = describe(spec.name, spec.actions, spec.given, formats, own)
    task = Task(
        name=f"bigbench/{spec.name}", source="bigbench", license="Apache-2.0", split="train",
        descriptions_train=d_train, descriptions_eval=d_eval, train=tuple(train_rows), eval=tuple(eval_rows),
        metric="exact" if spec.mode == "exact" else "choice", choices=choices,
        origin=f"bigbench=={BIGBENCH_VERSION}:bigbench/benchmark_tasks/{spec.path}/task.json", family=family,
    )
    return Record(task, spec.group)


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
