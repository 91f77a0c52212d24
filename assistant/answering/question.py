"""What a question asks: its parts, the words to look for, and the kind of answer it expects."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from assistant.answering.evidence import Evidence
from assistant.text import STOPWORDS, content_terms, words

CONTEXT_WEIGHT = 0.5  # terms of earlier turns count half: the follow-up's own words lead
# In "which city" or "what year" the noun names the kind of answer, not a word to find.
TYPE_NOUN_WEIGHT = 0.3
_TYPE_NOUN = re.compile(
    r"\b(?:which|what)\s+(year|years|date|day|month|city|cities|country|countries|place|time|person|people|name)\b",
    re.I,
)
_TAKE_PLACE = re.compile(r"\b(take|takes|took|taken|taking)\s+place\b", re.I)
_HOW_ADJECTIVE = re.compile(r"\bhow\s+(long|old|far|big|large|often)\b", re.I)
# "..., and when was it signed?" asks a second thing: each part gets its own sentence.
_PART_BREAK = re.compile(r",?\s+and\s+(?=(?:what|when|who|whom|whose|which|where|why|how)\b)", re.I)

_ORDINALS = {"first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "next"}
_CAPITALIZED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][A-Za-z]*")
_DIGITS = re.compile(r"\b\d+(?:[.,]\d+)?\b")
_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")
_MONTH = re.compile(r"\b(January|February|March|April|May|June|July|August|September|October|November|December)\b")
_NUMBER = re.compile(
    r"\b\d[\d,.]*\b|\b(one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million)s?\b", re.I
)
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+")

TypeCheck = Callable[[str], bool]


@dataclass(frozen=True)
class QuestionPart:
    text: str
    weights: dict[str, float]
    expects: TypeCheck | None

    @property
    def total(self) -> float:
        return sum(self.weights.values())


def split_parts(question: str) -> list[str]:
    return [part.strip() for part in _PART_BREAK.split(question) if part.strip()]


def analyse(question: str, context: tuple[str, ...], evidence: Evidence) -> list[QuestionPart]:
    """One QuestionPart per thing asked, each with IDF-weighted terms to find."""
    context_weights: dict[str, float] = {}
    for turn in context:
        for term in content_terms(_clean(turn)):
            context_weights[term] = CONTEXT_WEIGHT * evidence.weight(term)
    parts = []
    for text in split_parts(question):
        cleaned = _clean(text)
        type_nouns = {t for match in _TYPE_NOUN.finditer(cleaned) for t in content_terms(match.group(1))}
        weights = dict(context_weights)
        for term in content_terms(cleaned):
            weights[term] = evidence.weight(term) * (TYPE_NOUN_WEIGHT if term in type_nouns else 1.0)
        if weights:
            parts.append(QuestionPart(text=text, weights=weights, expects=expected_type(text)))
    return parts


def _clean(text: str) -> str:
    """Drop phrasing that carries no content: "take place", the adjective of "how long"."""
    return _HOW_ADJECTIVE.sub("how", _TAKE_PLACE.sub(" ", text))


def expected_type(question: str) -> TypeCheck | None:
    """A check for the kind of answer the question asks for (a date, a number, a name), if any.

    The answer must be new: a sentence that only repeats the question's own date or name
    ("the Heydar Aliyev Foundation ...") does not say who or when.
    """
    asked = " ".join(words(question)[:4])
    if re.search(r"\b(when|what year|which year|what date|which date)\b", asked):
        patterns = (_YEAR, _MONTH)
    elif re.search(r"\b(how many|how much|what number|how long|how old)\b", asked):
        patterns = (_NUMBER,)
    elif re.search(r"\b(who|whom|whose)\b", asked):
        patterns = (_NAME,)
    else:
        return None
    in_question = question.lower()

    def check(text: str) -> bool:
        return any(match.group(0).lower() not in in_question for p in patterns for match in p.finditer(text))

    return check


def specific_mismatch(question: str, sentence: str, passage: str, evidence: Evidence) -> str | None:
    """Why the question is about something specific the sources lack, or None.

    "When was the second congress held?" matches the sentence on the first congress word for
    word but one; that one word (a name, an ordinal, a number) is the whole question.
    """
    names = [w for w in _CAPITALIZED.findall(question) if w.lower() not in STOPWORDS]
    unknown = [name for name in names if not any(evidence.known(t) for t in content_terms(name))]
    if unknown:
        return f"The sources never mention {', '.join(unknown)}."
    asked = {w for w in words(question) if w in _ORDINALS}
    in_sentence = {w for w in words(sentence) if w in _ORDINALS}
    in_passage = {w for w in words(passage) if w in _ORDINALS}
    if asked and not asked & in_passage or (in_sentence and asked and not asked & in_sentence):
        other = ", ".join(sorted(in_sentence or in_passage)) or "another"
        return f"The sources speak of the {other} one, not the {', '.join(sorted(asked))}."
    missing = [n for n in _DIGITS.findall(question) if n not in passage]
    if missing:
        return f"The closest passage does not mention {', '.join(missing)}."
    return None
