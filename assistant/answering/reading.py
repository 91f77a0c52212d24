"""The reader's pass over a short list of candidate sentences: what it found in each.

The short list is the cheap sentence model's top READ_COUNT; each listed sentence is read as
its window (windows.py), in one batch. A window's best span is credited to the candidate
sentence that holds it, which may be the window's neighbour sentence rather than its centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assistant.analysis.sentences import SentenceIndex
from assistant.answering.features import Candidate
from assistant.answering.reader import Reader
from assistant.answering.windows import window

READ_COUNT = 5  # windows read per question part: ~10 ms each on 2 cores (int8)
FLOOR = -10.0  # the reader features of a sentence the reader did not read, or found no span in


@dataclass(frozen=True)
class Span:
    source: str
    start: int
    end: int
    score: float  # span logits plus its window's answerability logit


@dataclass
class Readings:
    """Per candidate: its window's answerability, the best span inside it, whether it was read."""

    answerable: np.ndarray
    span_score: np.ndarray
    read: np.ndarray
    spans: list[Span | None]

    @classmethod
    def unread(cls, n: int) -> Readings:
        return cls(np.full(n, FLOOR), np.full(n, FLOOR), np.zeros(n), [None] * n)

    def rows(self) -> np.ndarray:
        """The columns features.READER_SENTENCE_FEATURES, one row per candidate."""
        return np.column_stack([self.answerable, self.span_score, self.read])


def read(
    reader: Reader,
    question: str,
    found: list[Candidate],
    shortlist: list[int],
    sentences: SentenceIndex,
    texts: dict[str, str],
) -> Readings:
    readings = Readings.unread(len(found))
    where = {(c.source, c.index): k for k, c in enumerate(found)}
    slices = []
    for k in shortlist:
        c = found[k]
        first = max(c.index - 1, 0)
        last = min(c.index + 1, sentences.count(c.source) - 1)
        spans = [sentences.span(c.source, i) for i in range(first, last + 1)]
        slices.append(window(texts[c.source], spans, c.index - first))
    windows = [texts[found[k].source][a:b] for k, (a, b) in zip(shortlist, slices, strict=True)]
    for k, (offset, _), reading in zip(shortlist, slices, reader.read(question, windows), strict=True):
        c = found[k]
        readings.answerable[k] = reading.answerable
        readings.read[k] = 1.0
        if reading.end <= reading.start:
            continue
        start, end = offset + reading.start, offset + reading.end
        holder = _holder(c, start, sentences, where)
        if holder is None:
            continue
        score = reading.span + reading.answerable
        if score > readings.span_score[holder]:
            readings.span_score[holder] = score
            readings.spans[holder] = Span(c.source, start, end, score)
    return readings


def _holder(c: Candidate, start: int, sentences: SentenceIndex, where: dict) -> int | None:
    """The candidate whose sentence holds the span's start (the window's centre or a neighbour)."""
    for i in (c.index - 1, c.index, c.index + 1):
        if 0 <= i < sentences.count(c.source):
            a, b = sentences.span(c.source, i)
            if a <= start < b:
                return where.get((c.source, i))
    return None
