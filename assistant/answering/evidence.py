"""Per-generation sentence data for answer selection: sentence spans, term weights, vectors."""

from __future__ import annotations

import math
import threading
from collections import Counter, OrderedDict

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.reader import LoadedIndex
from assistant.text import content_terms, sentence_spans

Span = tuple[str, int, int]  # (source, start, end)


class _Recent:
    """A bounded map shared by request threads: the least recently used entries go first."""

    def __init__(self, limit: int) -> None:
        self._items: OrderedDict[Span, object] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def get(self, key: Span):
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Span, value: object) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._limit:
                self._items.popitem(last=False)


class Evidence:
    """Sentence-level view of one index generation, built lazily and cached.

    Sentence vectors are computed on first use and kept (bounded): computing them for every
    sentence at index time would double rebuild time for sentences most questions never touch.
    """

    def __init__(self, index: LoadedIndex, embeddings: Embeddings, max_vectors: int = 50_000) -> None:
        self.index = index
        self._embeddings = embeddings
        self._spans: dict[str, list[tuple[int, int]]] = {}
        self._vectors = _Recent(max_vectors)
        self._terms = _Recent(max_vectors)
        self._idf, self._default_idf = self._term_weights()

    def _term_weights(self) -> tuple[dict[str, float], float]:
        """IDF over sentences: answers are picked per sentence, so rarity is counted per sentence."""
        frequencies: Counter[str] = Counter()
        total = 0
        for source, text in self.index.texts.items():
            for start, end in self._document_sentences(source):
                frequencies.update(set(content_terms(text[start:end])))
                total += 1
        total = max(total, 1)
        idf = {term: math.log(1 + (total - df + 0.5) / (df + 0.5)) for term, df in frequencies.items()}
        # A term the corpus never uses weighs most: a question built on it is likely off-corpus.
        return idf, math.log(1 + (total + 0.5) / 0.5)

    def weight(self, term: str) -> float:
        return self._idf.get(term, self._default_idf)

    def known(self, term: str) -> bool:
        return term in self._idf

    def _document_sentences(self, source: str) -> list[tuple[int, int]]:
        spans = self._spans.get(source)
        if spans is None:
            spans = sentence_spans(self.index.texts[source])
            self._spans[source] = spans
        return spans

    def sentences(self, source: str, start: int, end: int) -> list[tuple[int, int]]:
        """Whole sentences that overlap [start, end) of a document."""
        return [(s, e) for s, e in self._document_sentences(source) if s < end and e > start]

    def neighbours(self, source: str, start: int) -> list[tuple[int, int]]:
        """The sentences just before and after the one starting at `start`."""
        spans = self._document_sentences(source)
        for i, (s, _) in enumerate(spans):
            if s == start:
                return spans[max(i - 1, 0) : i] + spans[i + 1 : i + 2]
        return []

    def terms(self, source: str, start: int, end: int) -> frozenset[str]:
        """A sentence's content terms, kept (bounded like the vectors): every question re-reads them."""
        span = (source, start, end)
        found = self._terms.get(span)
        if found is None:
            found = frozenset(content_terms(self.index.texts[source][start:end]))
            self._terms.put(span, found)
        return found

    def vectors(self, spans: list[Span]) -> list[np.ndarray]:
        """Unit vectors of the given sentences; each is computed once, least recently used go first."""
        found = {span: self._vectors.get(span) for span in dict.fromkeys(spans)}
        missing = [span for span, vector in found.items() if vector is None]
        if missing:
            texts = [self.index.texts[source][s:e] for source, s, e in missing]
            computed = np.asarray(self._embeddings.embed_documents(texts), dtype=np.float32)
            for span, vector in zip(missing, computed, strict=True):
                found[span] = vector
                self._vectors.put(span, vector)
        return [found[span] for span in spans]


class EvidenceCache:
    """One Evidence per generation; a new generation replaces the old one."""

    def __init__(self, embeddings: Embeddings) -> None:
        self._embeddings = embeddings
        self._current: Evidence | None = None
        self._lock = threading.Lock()

    def for_index(self, index: LoadedIndex) -> Evidence:
        current = self._current
        if current is not None and current.index is index:
            return current
        with self._lock:
            if self._current is None or self._current.index is not index:
                self._current = Evidence(index, self._embeddings)
            return self._current
