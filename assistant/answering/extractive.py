"""The offline default: quote the retrieved sentence that answers each part of the question.

Which sentence, and whether to answer at all, is the answer model's decision (selector.py); with
the reader model (reader.py) the answer also leads with the exact short answer inside it.
"""

from __future__ import annotations

import numpy as np

from assistant.answering import reading
from assistant.answering.citations import MARKER, CitationBook
from assistant.answering.features import analyse, candidates
from assistant.answering.reader import Reader
from assistant.answering.selector import AnswerModel, Choice, choose, refusal_reason
from assistant.answering.types import ABSTAIN_TEXT, Answer, ShortAnswer
from assistant.retrieval.retriever import Retrieval


class ExtractiveAnswerer:
    """Quotes the best sentence for each part of the question, followed by its [n] marker."""

    def __init__(
        self, model: AnswerModel, threshold: float | None = None, max_sentences: int = 2, reader: Reader | None = None
    ) -> None:
        if model.uses_reader and reader is None:
            raise ValueError("this answer model was trained with the reader model; give it one")
        self.model = model
        self.reader = reader if model.uses_reader else None
        self.threshold = model.threshold if threshold is None else threshold
        self._max_sentences = max_sentences

    def choices(self, retrieval: Retrieval) -> list[Choice] | str:
        """The chosen sentence per question part, or why there is nothing to choose from."""
        if not retrieval.passages:
            return "The index holds no passages to answer from."
        sentences = retrieval.index.sentences
        parts = analyse(retrieval.query.question, retrieval.query.context, sentences)[: self._max_sentences]
        if not parts:
            return "The question has no words to look for in the sources."
        found = candidates(retrieval, sentences)
        if not found:
            return "The retrieved passages hold no sentence to quote."
        passage_terms = frozenset().union(*(c.terms for c in found))
        query_vector = np.asarray(retrieval.query_vector, dtype=np.float32)
        texts = retrieval.index.texts

        def reader_for(question: str):
            if self.reader is None:
                return None
            return lambda listed: reading.read(self.reader, question, found, listed, sentences, texts)

        return [
            choose(part, found, query_vector, passage_terms, sentences, self.model, reader_for(part.text))
            for part in parts
        ]

    def answer(self, retrieval: Retrieval) -> Answer:
        choices = self.choices(retrieval)
        if isinstance(choices, str):
            return _abstain(retrieval, choices)
        weakest = min(choices, key=lambda choice: choice.probability)
        if weakest.probability < self.threshold:
            return _abstain(retrieval, refusal_reason(weakest, self.threshold), weakest.probability)

        picked = [c.candidate for c in choices]
        if len(choices) == 1 and choices[0].runner_up is not None:
            picked.append(choices[0].runner_up)
        chosen = list({(c.source, c.start): c for c in picked}.values())
        lead = chosen[0].source
        chosen.sort(key=lambda c: (c.source != lead, c.source, c.start))
        book = CitationBook()
        texts = retrieval.index.texts
        quoted = [f"{quote(c.text)} [{book.cite(c.passage, c.start, c.end, texts[c.source])}]" for c in chosen]
        first = choices[0].candidate
        n = book.cite(first.passage, first.start, first.end, texts[first.source])
        short = short_answer(choices[0], n, texts[first.source])
        # The answer leads with the short answer, unless that is the whole quoted sentence.
        lead = [f"{quote(short.text)} —"] if short and not _is_whole(short.text, first.text) else []
        return Answer(
            text=" ".join(lead + quoted),
            short_answer=short,
            citations=book.citations,
            abstained=False,
            passages=retrieval.passages,
            generation=retrieval.index.generation,
            confidence=round(weakest.probability, 4),
        )


def short_answer(choice: Choice, n: int, document_text: str) -> ShortAnswer | None:
    """The reader's span inside the chosen sentence (cut at its end), exact offsets, or None."""
    span, sentence = choice.short, choice.candidate
    if span is None:
        return None
    start, end = max(span.start, sentence.start), min(span.end, sentence.end)
    while start < end and (document_text[start].isspace() or document_text[start] in _LEADING):
        start += 1
    while end > start and (document_text[end - 1].isspace() or document_text[end - 1] in _TRAILING):
        end -= 1
    if end <= start or not MARKER.sub("", document_text[start:end]).strip():
        return None
    return ShortAnswer(text=document_text[start:end], source=sentence.source, start=start, end=end, n=n)


_LEADING = "([{“‘\"'"
_TRAILING = ",;:.)]}”’\"'"


def _is_whole(short: str, sentence: str) -> bool:
    """Whether a short answer is its sentence, give or take the punctuation around it."""
    return quote(short).strip(_LEADING + _TRAILING + "!? ") == quote(sentence).strip(_LEADING + _TRAILING + "!? ")


def quote(sentence: str) -> str:
    """A sentence as the answer shows it: on one line, and without the source's own reference
    markers ("[12]" in a Wikipedia text), which would read as citations of ours. The citation
    keeps the exact text."""
    return " ".join(MARKER.sub("", sentence).split())


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
