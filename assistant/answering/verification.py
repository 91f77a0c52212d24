"""Checks a generated answer against the passages it cites: markers, citations, sentence support."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from assistant.analysis.text import STOPWORDS, sentence_spans, words
from assistant.answering.citations import MARKER, CitationBook
from assistant.answering.types import Citation
from assistant.index.serving import Passage

_MARKER_LIST = re.compile(r"\[(\d+(?:\s*,\s*\d+)+)\]")  # "[1, 2]" -> "[1][2]"
_LEADING_MARKERS = re.compile(r"^(\s*\[\d+\])+")

Embed = Callable[[list[str]], list[list[float]]]


@dataclass(frozen=True)
class CheckedAnswer:
    text: str
    citations: list[Citation]
    unsupported: list[int]  # indexes of answer sentences no cited passage supports
    dropped_markers: list[int]  # markers that pointed at no passage
    attributed: list[int] = field(default_factory=list)  # sentences the model left unmarked, marked by the check


def check_answer(
    raw: str,
    passages: list[Passage],
    texts: dict[str, str],
    min_support: float,
    embed: Embed | None = None,
    shown: list[str] | None = None,
) -> CheckedAnswer:
    """Keep markers that point at a passage (renumbered by first use), and flag unsupported sentences.

    `shown` is the passage text the model actually saw (instructions omitted); support is judged
    against it, while citations always point at the exact source span.
    """
    shown = shown if shown is not None else [p.text for p in passages]
    text = _MARKER_LIST.sub(lambda m: "".join(f"[{n.strip()}]" for n in m.group(1).split(",")), raw)
    dropped = sorted({int(n) for n in MARKER.findall(text) if not 1 <= int(n) <= len(passages)})
    text = MARKER.sub(lambda m: m.group(0) if 1 <= int(m.group(1)) <= len(passages) else "", text)
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()
    text, attributed = _attribute_unmarked(text, shown, min_support, embed)

    book = CitationBook()
    renumbered: dict[int, int] = {}
    by_number: dict[int, str] = {}
    for n in MARKER.findall(text):
        passage = passages[int(n) - 1]
        new = book.cite(passage, passage.start, passage.end, texts[passage.source])
        renumbered.setdefault(int(n), new)
        by_number[new] = shown[int(n) - 1]
    text = MARKER.sub(lambda m: f"[{renumbered[int(m.group(1))]}]", text)
    citations = book.citations

    unsupported = [
        i
        for i, (sentence, numbers) in enumerate(_sentences_with_markers(text))
        if not _supported(sentence, [by_number[n] for n in numbers], min_support, embed)
    ]
    return CheckedAnswer(
        text=text, citations=citations, unsupported=unsupported, dropped_markers=dropped, attributed=attributed
    )


_AFTER_MARKERS = re.compile(r"((?:\[\d+\])+)\s+(?=[A-Z0-9\"“])")


def answer_sentences(text: str) -> list[str]:
    """The answer's sentences without their markers, numbered as `Answer.unsupported` counts them."""
    return [sentence for sentence, _ in _sentences_with_markers(text)]


def _sentences_with_markers(text: str) -> list[tuple[str, list[int]]]:
    """Answer sentences with the markers that belong to them ("... end. [2]" belongs to the first).

    A marker followed by a capital also ends a claim: "Fact one [1] Fact two [2]" is two claims.
    """
    result: list[tuple[str, list[int]]] = []
    text = _AFTER_MARKERS.sub(lambda m: m.group(1) + "\n", text)
    for start, end in sentence_spans(text):
        sentence = text[start:end]
        leading = _LEADING_MARKERS.match(sentence)
        if leading and result:
            result[-1][1].extend(int(n) for n in MARKER.findall(leading.group(0)))
            sentence = sentence[leading.end() :]
        if any(ch.isalnum() for ch in MARKER.sub("", sentence)):
            result.append((MARKER.sub("", sentence).strip(), [int(n) for n in MARKER.findall(sentence)]))
    return result


def _attribute_unmarked(text: str, shown: list[str], min_support: float, embed: Embed | None) -> tuple[str, list[int]]:
    """A sentence the model left without a marker gets the passage that supports it best, if one does.

    Small models often answer well and forget the markers. The same support check as for marked
    sentences decides, so an added marker is verified like the model's own; a sentence no passage
    supports stays unmarked and is flagged as unsupported.
    """
    claims = _sentences_with_markers(text)
    if all(numbers for _, numbers in claims):
        return text, []
    rebuilt, attributed = [], []
    for index, (sentence, numbers) in enumerate(claims):
        if not numbers:
            best = _best_support(sentence, shown, min_support, embed)
            if best is not None:
                numbers = [best + 1]
                attributed.append(index)
        rebuilt.append(sentence + "".join(f" [{n}]" for n in numbers[:1]) + "".join(f"[{n}]" for n in numbers[1:]))
    return " ".join(rebuilt), attributed


def _best_support(sentence: str, passages: list[str], min_support: float, embed: Embed | None) -> int | None:
    """Index of the passage that supports the sentence best, or None when none is enough."""
    needed = _content_words(sentence)
    if not needed or not passages:
        return None
    coverage = [_coverage(needed, text) for text in passages]
    best = max(range(len(passages)), key=coverage.__getitem__)
    if coverage[best] >= min_support:
        return best
    if embed is None:
        return None
    closest = _closest_sentence(sentence, passages, embed)
    return closest[0] if closest is not None and closest[1] >= PARAPHRASE_SIMILARITY else None


PARAPHRASE_SIMILARITY = 0.7


def _content_words(sentence: str) -> set[str]:
    return {w for w in words(sentence) if w not in STOPWORDS}


def _coverage(needed: set[str], text: str) -> float:
    return len(needed & set(words(text))) / len(needed)


def _closest_sentence(sentence: str, passages: list[str], embed: Embed) -> tuple[int, float] | None:
    """(index of the passage, cosine similarity) of the passage sentence closest in meaning, in one
    embedding call; None when the passages hold no sentence."""
    pieces = [(i, text[s:e]) for i, text in enumerate(passages) for s, e in sentence_spans(text)]
    if not pieces:
        return None
    vectors = np.asarray(embed([sentence, *(piece for _, piece in pieces)]), dtype=np.float32)
    scores = vectors[1:] @ vectors[0]
    top = int(scores.argmax())
    return pieces[top][0], float(scores[top])


def _supported(sentence: str, cited: list[str], min_support: float, embed: Embed | None) -> bool:
    if not cited:
        return False
    needed = _content_words(sentence)
    if not needed:
        return True
    if _coverage(needed, " ".join(cited)) >= min_support:
        return True
    if embed is None:
        return False
    # Paraphrase: compare meaning with each sentence of the cited passages.
    closest = _closest_sentence(sentence, cited, embed)
    return closest is not None and closest[1] >= PARAPHRASE_SIMILARITY
