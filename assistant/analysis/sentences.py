"""Each document's sentences, prepared at index time: spans, unit vectors and term counts.

Answer selection compares every retrieved sentence with the question. Embedding those sentences
when a question first reaches them made the first questions after a start slow; they are
embedded once, by the rebuild, and read back from the generation (vectors memory-mapped).
"""

from __future__ import annotations

import json
import math
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.analysis.text import content_terms, sentence_spans


@dataclass(frozen=True)
class DocumentSentences:
    spans: np.ndarray  # int32 (n, 2): start, end offsets into the document text
    vectors: np.ndarray  # float16 (n, dim), unit length; float16 halves the disk and page cache
    term_counts: dict[str, int]  # for each term, how many of the document's sentences hold it

    def __len__(self) -> int:
        return len(self.spans)


def split(text: str) -> tuple[np.ndarray, dict[str, int]]:
    """Sentence spans of a document and how many sentences hold each term."""
    spans = sentence_spans(text)
    counts: Counter[str] = Counter()
    for start, end in spans:
        counts.update(set(content_terms(text[start:end])))
    return np.asarray(spans, dtype=np.int32).reshape(-1, 2), dict(counts)


def save(directory: Path, stem: str, document: DocumentSentences) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    np.save(directory / f"{stem}.spans.npy", document.spans)
    np.save(directory / f"{stem}.vectors.npy", document.vectors)
    (directory / f"{stem}.terms.json").write_text(json.dumps(document.term_counts, ensure_ascii=False))


def load(directory: Path, stem: str) -> DocumentSentences:
    return DocumentSentences(
        spans=np.load(directory / f"{stem}.spans.npy"),
        vectors=np.load(directory / f"{stem}.vectors.npy", mmap_mode="r"),
        term_counts=json.loads((directory / f"{stem}.terms.json").read_text()),
    )


def files(stem: str) -> tuple[str, ...]:
    return (f"{stem}.spans.npy", f"{stem}.vectors.npy", f"{stem}.terms.json")


class _Recent:
    """A bounded map shared by request threads: the least recently used entries go first."""

    def __init__(self, limit: int) -> None:
        self._items: OrderedDict[tuple[str, int], tuple[tuple[str, ...], frozenset[str]]] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int]) -> tuple[tuple[str, ...], frozenset[str]] | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple[str, int], value: tuple[tuple[str, ...], frozenset[str]]) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._limit:
                self._items.popitem(last=False)


class SentenceIndex:
    """One generation's sentences: where they are, their vectors, their terms and term rarity.

    Term sets are computed on first use and kept (bounded); a corpus that fits the bound has
    them all computed when the generation is opened, so no question pays for them.
    """

    def __init__(self, texts: dict[str, str], documents: dict[str, DocumentSentences], max_terms: int = 100_000):
        self._texts = texts
        self._documents = documents
        self._starts = {source: np.ascontiguousarray(doc.spans[:, 0]) for source, doc in documents.items()}
        self._ends = {source: np.ascontiguousarray(doc.spans[:, 1]) for source, doc in documents.items()}
        frequencies: Counter[str] = Counter()
        for doc in documents.values():
            frequencies.update(doc.term_counts)
        self.total = sum(len(doc) for doc in documents.values())
        total = max(self.total, 1)
        # BM25's IDF, counted over sentences: answers are picked per sentence.
        self._idf = {term: math.log(1 + (total - df + 0.5) / (df + 0.5)) for term, df in frequencies.items()}
        # A term the corpus never uses weighs most: a question built on it is likely off-corpus.
        self.unknown_idf = math.log(1 + (total + 0.5) / 0.5)
        self._terms = _Recent(max_terms)
        if self.total <= max_terms:
            for source, doc in documents.items():
                for i in range(len(doc)):
                    self._analysed(source, i)

    def idf(self, term: str) -> float:
        return self._idf.get(term, self.unknown_idf)

    def known(self, term: str) -> bool:
        return term in self._idf

    def count(self, source: str) -> int:
        return len(self._documents[source])

    def overlapping(self, source: str, start: int, end: int) -> range:
        """Indexes of the sentences of `source` that overlap [start, end)."""
        first = int(np.searchsorted(self._ends[source], start, side="right"))
        last = int(np.searchsorted(self._starts[source], end, side="left"))
        return range(first, max(first, last))

    def span(self, source: str, i: int) -> tuple[int, int]:
        start, end = self._documents[source].spans[i]
        return int(start), int(end)

    def text(self, source: str, i: int) -> str:
        start, end = self.span(source, i)
        return self._texts[source][start:end]

    def vector(self, source: str, i: int) -> np.ndarray:
        return np.asarray(self._documents[source].vectors[i], dtype=np.float32)

    def terms(self, source: str, i: int) -> frozenset[str]:
        """The sentence's content terms, as a set."""
        return self._analysed(source, i)[1]

    def ordered_terms(self, source: str, i: int) -> tuple[str, ...]:
        """The sentence's content terms in reading order (for word pairs)."""
        return self._analysed(source, i)[0]

    def _analysed(self, source: str, i: int) -> tuple[tuple[str, ...], frozenset[str]]:
        key = (source, i)
        found = self._terms.get(key)
        if found is None:
            ordered = tuple(content_terms(self.text(source, i)))
            found = (ordered, frozenset(ordered))
            self._terms.put(key, found)
        return found
