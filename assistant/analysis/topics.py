"""Example questions for an empty chat page, made from the documents themselves.

A question names something the documents keep coming back to: a multi-word name ("Heydar Aliyev
Foundation", "Steam Engine") found in the first sentences of their paragraphs, headings
included, so the question is about what the documents are about and the answer is in them.
Nothing here is written for one document set; a collection without such names gets questions
about its documents' titles.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from assistant.analysis.text import STOPWORDS, sentence_spans, word_matches

# Lower-case words that may sit inside a name ("Day of Solidarity", "Support to the Fund"); not
# "and", which joins two names more often than it sits inside one.
_JOINERS = frozenset({"of", "the", "for", "to", "de", "la", "von", "van"})
_PARAGRAPH = re.compile(r"\n[ \t]*\n")
# Only the start of a long document is read: enough for its recurring names, and cheap.
_READ_CHARS = 20_000


def example_questions(documents: Iterable[tuple[str, str]], count: int = 3) -> list[str]:
    """Up to `count` questions for (title, text) documents (an empty title: none to show): the
    most recurring names first, one a document while other documents have some, then titles."""
    documents = list(documents)
    candidates = sorted(
        (-frequency, order, rank, name)
        for order, (_, text) in enumerate(documents)
        for rank, (name, frequency) in enumerate(_ranked_names(text))
    )
    picked: list[str] = []
    used: set[int] = set()
    for spread in (True, False):
        for _, order, _, name in candidates:
            if len(picked) == count or (spread and order in used):
                continue
            if not any(_overlaps(name, other) for other in picked):
                picked.append(name)
                used.add(order)
    questions = [f"What do the sources say about {name}?" for name in picked]
    for title, _ in documents:
        if len(questions) < count and title:
            questions.append(f"What does “{title}” say?")
    return questions


def _ranked_names(text: str) -> list[tuple[str, int]]:
    """(name, how many paragraph openings hold it) for a document, most frequent first, then by
    first use."""
    counts: Counter[str] = Counter()
    for paragraph in _PARAGRAPH.split(text[:_READ_CHARS]):
        spans = sentence_spans(paragraph)
        if spans:
            counts.update(dict.fromkeys(names_in(paragraph[spans[0][0] : spans[0][1]]), 1))
    return sorted(counts.items(), key=lambda item: -item[1])  # sorted() keeps first use among equals


def names_in(sentence: str) -> list[str]:
    """Runs of capitalised words, joined by the lower-case words names contain; two or more
    capitalised words, so a capital that only starts a sentence is not a name. Punctuation
    between two words ends a run."""
    names: list[str] = []
    run: list[re.Match[str]] = []

    def close() -> None:
        while run and not run[-1].group(0)[:1].isupper():
            run.pop()
        if sum(match.group(0)[:1].isupper() for match in run) >= 2:
            names.append(re.sub(r"['’]s$", "", sentence[run[0].start() : run[-1].end()]))
        run.clear()

    matches = word_matches(sentence)
    # A sentence's first word is capitalised anyway: it starts a name only when the next word
    # is capitalised too ("Thomas Newcomen built", not "Although the Union").
    opening_is_name = len(matches) > 1 and matches[1].group(0)[:1].isupper()
    for position, match in enumerate(matches):
        word = match.group(0)
        if run and sentence[run[-1].end() : match.start()].strip():
            close()
        opening = position == 0 and not opening_is_name
        if word[:1].isupper() and not opening and (run or word.lower() not in STOPWORDS) or run and word in _JOINERS:
            run.append(match)
        else:
            close()
    close()
    return names


def _overlaps(name: str, other: str) -> bool:
    return name.lower() in other.lower() or other.lower() in name.lower()
