"""Words, terms and sentences: the text analysis lexical retrieval and answer selection share.

Sentences come from syntok (spans into the original text, abbreviations and decimals handled,
a line break inside a paragraph is only a space); words are Unicode (Azerbaijani ə ş ğ ı,
Cyrillic, accents); terms are simplemma's English lemma ("took" -> "take") stemmed by Snowball
("organization" and "organize" meet).
"""

from __future__ import annotations

import re
from functools import lru_cache

import simplemma
import Stemmer
from syntok import segmenter

# Letters and digits of any script; an apostrophe inside a word keeps it whole ("Newcomen's").
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")

# NLTK's English stopword list: function words that name nothing to look for.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves""".split()
)

_stemmer = Stemmer.Stemmer("english")


@lru_cache(maxsize=131072)
def term(word: str) -> str:
    """The comparable form of a lower-case word: lemma, then stem."""
    return _stemmer.stemWord(simplemma.lemmatize(word, lang="en"))


def word_matches(text: str) -> list[re.Match[str]]:
    """Words with their offsets, as written."""
    return list(_WORD.finditer(text))


def words(text: str) -> list[str]:
    """Lower-case words of any script; "İ" lower-cases to a plain "i" (no stray combining dot)."""
    return [match.group(0).lower().replace("i\u0307", "i").replace("’", "'") for match in _WORD.finditer(text)]


def content_words(text: str) -> list[str]:
    """Words without stopwords and without a possessive "'s": what a reader would look for."""
    return [word.split("'")[0] for word in words(text) if word not in STOPWORDS]


def written_content_words(text: str) -> list[tuple[str, str]]:
    """(as written, lower case) for each content word: what to show people, what to compare."""
    pairs = []
    for match in _WORD.finditer(text):
        written = match.group(0).replace("’", "'").split("'")[0]
        lower = written.lower().replace("i\u0307", "i")
        if lower not in STOPWORDS and match.group(0).lower() not in STOPWORDS:
            pairs.append((written, lower))
    return pairs


def content_terms(text: str) -> list[str]:
    """Terms of the content words: what lexical matching compares."""
    return [term(word) for word in content_words(text)]


# -- sentences ---------------------------------------------------------------------------------
# A blank line ends a paragraph; so does a line break before a list item, a heading or a table row.
_BLOCK_BREAK = re.compile(r"\n[ \t]*\n\s*|\n(?=[ \t]*(?:[-*•‣◦–]|\d{1,3}[.)]|#{1,6}|\|)\s)")
# A "sentence" longer than this (a table, a list without punctuation) is cut at line breaks, then
# at spaces: an answer quotes sentences, and a quote should stay readable.
MAX_SENTENCE_CHARS = 600


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences in text[start:end], whitespace trimmed."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    block_start = start
    for match in _BLOCK_BREAK.finditer(text, start, end):
        _block_sentences(text, block_start, match.start(), spans)
        block_start = match.end()
    _block_sentences(text, block_start, end, spans)
    return spans


def _block_sentences(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    block = text[start:end]
    if not block.strip():
        return
    starts = [sentence[0].offset for paragraph in segmenter.analyze(block) for sentence in paragraph if sentence]
    # A sentence runs to where the next begins, so closing quotes and brackets stay with it.
    for begin, stop in zip(starts, [*starts[1:], len(block)], strict=True):
        _append_trimmed(text, start + begin, start + stop, spans)


def _append_trimmed(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end <= start or not any(ch.isalnum() for ch in text[start:end]):
        return
    if end - start <= MAX_SENTENCE_CHARS:
        spans.append((start, end))
        return
    cut = text.rfind("\n", start + 1, start + MAX_SENTENCE_CHARS)
    if cut < 0:
        cut = text.rfind(" ", start + 1, start + MAX_SENTENCE_CHARS)
    if cut < 0:
        cut = start + MAX_SENTENCE_CHARS
    _append_trimmed(text, start, cut, spans)
    _append_trimmed(text, cut, end, spans)
