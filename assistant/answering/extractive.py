"""The offline default: answer with the retrieved sentences that best answer the question."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.answering.citations import CitationBook
from assistant.answering.evidence import Evidence, EvidenceCache
from assistant.answering.types import ABSTAIN_TEXT, Answer
from assistant.reader import Passage
from assistant.retrieval import Retrieval
from assistant.text import content_terms, words

# How a sentence's score is made; the abstention threshold is calibrated against this mix.
W_COVERAGE = 0.45
W_SENTENCE = 0.35
W_PASSAGE = 0.20
W_TYPE = 0.10
CONTEXT_WEIGHT = 0.5  # terms of earlier turns count half: the follow-up's own words lead

_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")
_MONTH = re.compile(r"\b(January|February|March|April|May|June|July|August|September|October|November|December)\b")
_NUMBER = re.compile(
    r"\b\d[\d,.]*\b|\b(one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million)s?\b", re.I
)
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+")


@dataclass
class Candidate:
    source: str
    start: int
    end: int
    passage: Passage
    terms: frozenset[str]
    coverage: float = 0.0
    score: float = 0.0


class ExtractiveAnswerer:
    """Quotes sentences from the retrieved passages, each followed by its [n] marker."""

    def __init__(self, embeddings: Embeddings, min_confidence: float, max_sentences: int = 2) -> None:
        self._evidence = EvidenceCache(embeddings)
        self._min_confidence = min_confidence
        self._max_sentences = max_sentences

    def answer(self, retrieval: Retrieval) -> Answer:
        index = retrieval.index
        if not retrieval.passages:
            return _abstain(retrieval, "The index holds no passages to answer from.")
        evidence = self._evidence.for_index(index)
        weights = _question_weights(retrieval, evidence)
        if not weights:
            return _abstain(retrieval, "The question has no words to look for in the sources.")
        candidates = self._candidates(retrieval, evidence)
        self._score(candidates, retrieval, evidence, weights)
        best = max(candidates, key=lambda c: c.score)
        if best.score < self._min_confidence:
            return _abstain(retrieval, _abstain_reason(best, weights, evidence, self._min_confidence))

        chosen = [best]
        covered = set(best.terms)
        for candidate in sorted(candidates, key=lambda c: c.score, reverse=True):
            if len(chosen) >= self._max_sentences:
                break
            gain = sum(w for t, w in weights.items() if t in candidate.terms and t not in covered)
            if candidate is not best and gain > 0 and candidate.score >= 0.85 * best.score:
                chosen.append(candidate)
                covered |= candidate.terms
        chosen.sort(key=lambda c: (c.source != best.source, c.source, c.start))

        book = CitationBook()
        parts = []
        for candidate in chosen:
            text = index.texts[candidate.source]
            n = book.cite(candidate.passage, candidate.start, candidate.end, text)
            parts.append(f"{text[candidate.start : candidate.end]} [{n}]")
        return Answer(
            text=" ".join(parts),
            citations=book.citations,
            abstained=False,
            passages=retrieval.passages,
            generation=index.generation,
        )

    def _candidates(self, retrieval: Retrieval, evidence: Evidence) -> list[Candidate]:
        found: dict[tuple[str, int, int], Candidate] = {}
        for passage in retrieval.passages:
            text = retrieval.index.texts[passage.source]
            for start, end in evidence.sentences(passage.source, passage.start, passage.end):
                key = (passage.source, start, end)
                if key not in found or found[key].passage.score < passage.score:
                    terms = frozenset(content_terms(text[start:end]))
                    found[key] = Candidate(passage.source, start, end, passage, terms)
        return list(found.values())

    def _score(
        self, candidates: list[Candidate], retrieval: Retrieval, evidence: Evidence, weights: dict[str, float]
    ) -> None:
        total = sum(weights.values())
        vectors = evidence.vectors([(c.source, c.start, c.end) for c in candidates])
        similarities = np.stack(vectors) @ np.asarray(retrieval.query_vector, dtype=np.float32)
        expected = _expected_type(retrieval.query.question)
        for candidate, similarity in zip(candidates, similarities, strict=False):
            text = retrieval.index.texts[candidate.source][candidate.start : candidate.end]
            candidate.coverage = sum(w for t, w in weights.items() if t in candidate.terms) / total
            type_match = 1.0 if expected is None or expected(text) else 0.0
            candidate.score = (
                W_COVERAGE * candidate.coverage
                + W_SENTENCE * float(similarity)
                + W_PASSAGE * candidate.passage.score
                + W_TYPE * type_match
            )


def _question_weights(retrieval: Retrieval, evidence: Evidence) -> dict[str, float]:
    weights: dict[str, float] = {}
    for turn in retrieval.query.context:
        for term in content_terms(turn):
            weights[term] = CONTEXT_WEIGHT * evidence.weight(term)
    for term in content_terms(retrieval.query.question):
        weights[term] = evidence.weight(term)
    return weights


def _expected_type(question: str):
    """A check for the kind of answer the question asks for (a date, a number), if any."""
    asked = " ".join(words(question)[:4])
    if re.search(r"\b(when|what year|which year|what date|which date)\b", asked):
        return lambda text: bool(_YEAR.search(text) or _MONTH.search(text))
    if re.search(r"\b(how many|how much|what number)\b", asked):
        return lambda text: bool(_NUMBER.search(text))
    if re.search(r"\b(who|whom|whose)\b", asked):
        return lambda text: bool(_NAME.search(text))
    return None


def _abstain(retrieval: Retrieval, reason: str) -> Answer:
    return Answer(
        text=ABSTAIN_TEXT,
        citations=[],
        abstained=True,
        reason=reason,
        passages=retrieval.passages,
        generation=retrieval.index.generation,
    )


def _abstain_reason(best: Candidate, weights: dict[str, float], evidence: Evidence, threshold: float) -> str:
    unknown = [t for t in weights if not evidence.known(t)]
    missing = [t for t in weights if t not in best.terms]
    reason = f"No retrieved passage answers this closely enough (best match {best.score:.2f} < {threshold:.2f})."
    if unknown:
        reason += f" The sources never mention: {', '.join(sorted(unknown))}."
    elif missing:
        reason += f" The closest sentence ({best.source}) does not cover: {', '.join(missing)}."
    return reason
