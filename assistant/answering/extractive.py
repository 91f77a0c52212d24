"""The offline default: answer with the retrieved sentences that best answer the question."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.answering.citations import CitationBook
from assistant.answering.evidence import Evidence, EvidenceCache
from assistant.answering.question import QuestionPart, analyse, specific_mismatch
from assistant.answering.types import ABSTAIN_TEXT, Answer
from assistant.reader import Passage
from assistant.retrieval import Retrieval

# How a sentence's score is made; the abstention threshold is calibrated against this mix.
W_COVERAGE = 0.50
W_SENTENCE = 0.35
W_PASSAGE = 0.15
# A sentence without the kind of answer asked for (no date for "when") rarely answers it.
TYPE_MISMATCH_FACTOR = 0.75
NEARBY_CREDIT = 0.5  # a question word in a neighbouring sentence half-counts: context, not answer
# A sentence that opens by pointing back ("This Fund created ...", "Namely, this congress ...")
# is about what the previous sentence named: those words count almost as its own.
CONTINUATION_CREDIT = 0.9
_POINTS_BACK = re.compile(r"^(?:\w+,\s+)?(?:this|these|that|those|such|it|its|they|their)\b", re.IGNORECASE)


@dataclass
class Candidate:
    """A sentence of a retrieved passage that might answer the question."""

    source: str
    start: int
    end: int
    passage: Passage
    text: str
    terms: frozenset[str]
    nearby_terms: frozenset[str]  # in the sentences just before and after
    continues: bool = False  # opens by pointing back at the previous sentence
    similarity: float = 0.0

    def score(self, part: QuestionPart) -> float:
        found = sum(w for t, w in part.weights.items() if t in self.terms)
        nearby = sum(w for t, w in part.weights.items() if t in self.nearby_terms)
        credit = CONTINUATION_CREDIT if self.continues else NEARBY_CREDIT
        coverage = (found + credit * nearby) / part.total
        type_factor = 1.0 if part.expects is None or part.expects(self.text) else TYPE_MISMATCH_FACTOR
        return type_factor * (
            W_COVERAGE * coverage + W_SENTENCE * self.similarity + W_PASSAGE * self.passage.similarity
        )


class ExtractiveAnswerer:
    """Quotes the sentence that best answers each part of the question, followed by its [n] marker."""

    def __init__(self, embeddings: Embeddings, min_confidence: float, max_sentences: int = 2) -> None:
        self._evidence = EvidenceCache(embeddings)
        self._min_confidence = min_confidence
        self._max_sentences = max_sentences

    def answer(self, retrieval: Retrieval) -> Answer:
        if not retrieval.passages:
            return _abstain(retrieval, "The index holds no passages to answer from.")
        evidence = self._evidence.for_index(retrieval.index)
        parts = analyse(retrieval.query.question, retrieval.query.context, evidence)[: self._max_sentences]
        if not parts:
            return _abstain(retrieval, "The question has no words to look for in the sources.")
        candidates = self._candidates(retrieval, evidence)

        chosen: list[Candidate] = []
        confidence = 1.0
        for part in parts:
            best = max(candidates, key=lambda candidate: candidate.score(part))
            score = best.score(part)
            confidence = min(confidence, score)
            mismatch = specific_mismatch(part.text, best.text, best.passage.text, evidence)
            if mismatch:  # no confidence at all: the specific thing asked about is not there
                return _abstain(retrieval, mismatch, confidence=0.0)
            if score < self._min_confidence:
                reason = _low_score_reason(part, best, score, evidence, self._min_confidence)
                return _abstain(retrieval, reason, confidence=score)
            if best not in chosen:
                chosen.append(best)
        lead = chosen[0].source
        chosen.sort(key=lambda c: (c.source != lead, c.source, c.start))

        book = CitationBook()
        texts = retrieval.index.texts
        quoted = [f"{c.text} [{book.cite(c.passage, c.start, c.end, texts[c.source])}]" for c in chosen]
        return Answer(
            text=" ".join(quoted),
            citations=book.citations,
            abstained=False,
            passages=retrieval.passages,
            generation=retrieval.index.generation,
            confidence=round(confidence, 4),
        )

    def _candidates(self, retrieval: Retrieval, evidence: Evidence) -> list[Candidate]:
        found: dict[tuple[str, int, int], Candidate] = {}
        for passage in retrieval.passages:
            text = retrieval.index.texts[passage.source]
            for start, end in evidence.sentences(passage.source, passage.start, passage.end):
                key = (passage.source, start, end)
                if key in found and found[key].passage.similarity >= passage.similarity:
                    continue
                terms = evidence.terms(passage.source, start, end)
                nearby = {
                    t
                    for s, e in evidence.neighbours(passage.source, start)
                    for t in evidence.terms(passage.source, s, e)
                }
                sentence = text[start:end]
                continues = bool(_POINTS_BACK.match(sentence))
                found[key] = Candidate(
                    passage.source, start, end, passage, sentence, terms, frozenset(nearby), continues
                )
        candidates = list(found.values())
        vectors = evidence.vectors([(c.source, c.start, c.end) for c in candidates])
        similarities = np.stack(vectors) @ np.asarray(retrieval.query_vector, dtype=np.float32)
        for candidate, similarity in zip(candidates, similarities, strict=True):
            candidate.similarity = float(similarity)
        return candidates


def _abstain(retrieval: Retrieval, reason: str, confidence: float | None = None) -> Answer:
    return Answer(
        text=ABSTAIN_TEXT,
        citations=[],
        abstained=True,
        reason=reason,
        passages=retrieval.passages,
        generation=retrieval.index.generation,
        confidence=None if confidence is None else round(confidence, 4),
    )


def _low_score_reason(part: QuestionPart, best: Candidate, score: float, evidence: Evidence, threshold: float) -> str:
    reason = f"No retrieved passage answers this closely enough (best match {score:.2f} < {threshold:.2f})."
    unknown = [t for t in part.weights if not evidence.known(t)]
    missing = [t for t in part.weights if t not in best.terms]
    if unknown:
        reason += f" The sources never mention: {', '.join(sorted(unknown))}."
    elif missing:
        reason += f" The closest sentence ({best.source}) does not cover: {', '.join(missing)}."
    return reason
