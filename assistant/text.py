"""Word and sentence analysis shared by lexical retrieval and answer selection."""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
# A sentence ends at . ! ? (optionally closed by a quote or bracket) followed by space and
# something that can start a sentence; line breaks always end one (headings, list items).
_SENTENCE_END = re.compile(r"""[.!?]["'”’)\]]*\s+(?=["'“‘(\[]?[A-Z0-9])|\n\s*""")
_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "st",
    "no",
    "vs",
    "etc",
    "e.g",
    "i.e",
    "fig",
    "jr",
    "sr",
    "inc",
    "ltd",
    "co",
    "corp",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "u.s",
    "u.k",
    "al",
    "approx",
    "dept",
    "gen",
    "gov",
    "rep",
    "sen",
}

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves also did does tell
    many much mentioned according article text source named called one""".split()
)

# Irregular past forms the stemmer cannot join to their verb ("took" -> "take"): questions
# and sources often use different tenses of the same verb.
_IRREGULAR = {
    "took": "take",
    "taken": "take",
    "held": "hold",
    "came": "come",
    "began": "begin",
    "begun": "begin",
    "made": "make",
    "gave": "give",
    "given": "give",
    "won": "win",
    "wrote": "write",
    "written": "write",
    "led": "lead",
    "met": "meet",
    "paid": "pay",
    "said": "say",
    "told": "tell",
    "sent": "send",
    "spent": "spend",
    "built": "build",
    "brought": "bring",
    "bought": "buy",
    "thought": "think",
    "found": "find",
    "kept": "keep",
    "left": "leave",
    "lost": "lose",
    "became": "become",
    "ran": "run",
    "saw": "see",
    "seen": "see",
    "went": "go",
    "gone": "go",
    "knew": "know",
    "known": "know",
    "grew": "grow",
    "grown": "grow",
    "chose": "choose",
    "chosen": "choose",
    "fell": "fall",
    "fallen": "fall",
    "rose": "rise",
    "risen": "rise",
    "drew": "draw",
    "drawn": "draw",
    "fought": "fight",
    "sold": "sell",
    "stood": "stand",
    "struck": "strike",
    "taught": "teach",
    "understood": "understand",
    "shot": "shoot",
    "spoke": "speak",
    "spoken": "speak",
    "fired": "fire",
    "signed": "sign",
    "voted": "vote",
}

_stemmer = Stemmer.Stemmer("english")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer.stemWord(_IRREGULAR.get(word, word))


def words(text: str) -> list[str]:
    return [match.group(0).lower().replace("’", "'") for match in _WORD.finditer(text)]


def content_terms(text: str) -> list[str]:
    """Stemmed words without stopwords: what lexical matching compares."""
    return [_stem(word.split("'")[0]) for word in words(text) if word not in STOPWORDS]


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) offsets of sentences in text[start:end], whitespace trimmed."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    begin = start
    for match in _SENTENCE_END.finditer(text, start, end):
        stop = match.start() + len(match.group(0).rstrip())
        if match.group(0)[0] == "." and _is_abbreviation(text, begin, match.start()):
            continue
        _append_trimmed(text, begin, stop, spans)
        begin = match.end()
    _append_trimmed(text, begin, end, spans)
    return spans


def _is_abbreviation(text: str, begin: int, dot: int) -> bool:
    token_start = dot
    while token_start > begin and not text[token_start - 1].isspace():
        token_start -= 1
    token = text[token_start:dot].lower().lstrip("(\"'“")
    return token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha())


def _append_trimmed(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start and any(ch.isalnum() for ch in text[start:end]):
        spans.append((start, end))
