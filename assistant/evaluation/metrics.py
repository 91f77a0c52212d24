"""Per-question and overall eval figures; pure functions over plain data."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from assistant.analysis.text import STOPWORDS, words
from assistant.answering.citations import MARKER

_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalize(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def contains(haystack: str, needle: str) -> bool:
    return bool(needle.strip()) and f" {normalize(needle)} " in f" {normalize(haystack)} "


def exact_match(prediction: str, answers: tuple[str, ...]) -> float:
    """SQuAD's exact match: the normalized prediction is one of the answers."""
    return float(any(normalize(prediction) == normalize(a) for a in answers))


def best_token_f1(prediction: str, answers: tuple[str, ...]) -> float:
    """SQuAD's token F1 against the best-matching answer."""
    return max((token_f1(prediction, a) for a in answers), default=0.0)


def answer_correct(answer: str, answers: tuple[str, ...], answers_all: tuple[str, ...] = ()) -> bool:
    return any(contains(answer, a) for a in answers) and all(contains(answer, a) for a in answers_all)


def token_f1(prediction: str, reference: str) -> float:
    predicted = normalize(MARKER.sub(" ", prediction)).split()
    expected = normalize(reference).split()
    common = sum((Counter(predicted) & Counter(expected)).values())
    if not predicted or not expected or common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def gold_rank(passages: list[str], gold: str) -> int | None:
    """1-based rank of the first passage that contains the gold quote."""
    for rank, passage in enumerate(passages, start=1):
        if contains(passage, gold):
            return rank
    return None


def answer_segments(answer: str) -> list[tuple[str, list[int]]]:
    """The answer split into claims, each with the markers that follow it."""
    segments: list[tuple[str, list[int]]] = []
    position = 0
    pending_text = ""
    for match in MARKER.finditer(answer):
        between = answer[position : match.start()]
        if between.strip():
            pending_text = between
            segments.append((pending_text.strip(), [int(match.group(1))]))
        elif segments:
            segments[-1][1].append(int(match.group(1)))
        position = match.end()
    tail = answer[position:].strip()
    if tail and any(ch.isalnum() for ch in tail):
        segments.append((tail, []))
    return segments


def content_words(text: str) -> set[str]:
    return {w for w in words(text) if w not in STOPWORDS}


def supported(claim: str, cited_texts: list[str], coverage: float = 0.8) -> bool:
    """A claim is supported when a cited span contains it or covers most of its content words."""
    if any(contains(text, claim) for text in cited_texts):
        return True
    needed = content_words(claim)
    if not needed:
        return True
    present = set().union(*(content_words(text) for text in cited_texts)) if cited_texts else set()
    return len(needed & present) / len(needed) >= coverage


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p95: float


def percentiles(values: list[float]) -> Percentiles:
    if not values:
        return Percentiles(0.0, 0.0)
    ordered = sorted(values)

    def at(q: float) -> float:
        position = q * (len(ordered) - 1)
        low = int(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    return Percentiles(round(at(0.5), 2), round(at(0.95), 2))


def mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None
