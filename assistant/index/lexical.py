"""BM25 over one generation's chunks (bm25s), built beside the vectors from the same chunks."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

_STEMMER = Stemmer.Stemmer("english")
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG


def _tokens(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False)


class LexicalIndex:
    """Keyword search that catches exact names, numbers and rare terms dense vectors blur.

    Built over chunks (which passage) and over whole documents (which document is about the
    query at all); entries are named by id either way.
    """

    def __init__(self, model: bm25s.BM25, chunk_ids: list[str]) -> None:
        self._model = model
        self._chunk_ids = chunk_ids

    @classmethod
    def build(cls, chunk_ids: list[str], texts: list[str], k1: float = 1.5, b: float = 0.75) -> LexicalIndex:
        model = bm25s.BM25(k1=k1, b=b)
        tokens = _tokens(texts) if texts else []
        if not any(tokens):  # nothing but symbols: no word to find, and bm25s cannot index it
            return cls(model, [])
        model.index(tokens, show_progress=False)
        return cls(model, chunk_ids)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if self._chunk_ids:
            self._model.save(str(directory), show_progress=False)
        (directory / "chunk_ids.json").write_text(json.dumps(self._chunk_ids))

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        chunk_ids = json.loads((directory / "chunk_ids.json").read_text())
        model = bm25s.BM25.load(str(directory), show_progress=False) if chunk_ids else bm25s.BM25()
        return cls(model, chunk_ids)

    @property
    def ids(self) -> list[str]:
        return self._chunk_ids

    def _scores(self, query: str, keep: np.ndarray | None = None) -> np.ndarray | None:
        """BM25 of every entry; entries outside `keep` (a filter's mask) score 0."""
        terms = [t for t in _tokens([query])[0] if t in self._model.vocab_dict] if self._chunk_ids else []
        if not terms:
            return None
        scores = self._model.get_scores(terms)
        return scores if keep is None else np.where(keep, scores, 0.0)

    def scores(self, query: str, keep: np.ndarray | None = None) -> dict[str, float]:
        """Every entry's BM25 score for the query (those that match at all)."""
        scores = self._scores(query, keep)
        if scores is None:
            return {}
        return {self._chunk_ids[i]: float(scores[i]) for i in np.flatnonzero(scores > 0)}

    def search(self, query: str, k: int, keep: np.ndarray | None = None) -> list[tuple[str, float]]:
        """Best entries for the query's words, with their BM25 scores (only those that match)."""
        scores = self._scores(query, keep)
        if scores is None:
            return []
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self._chunk_ids[i], float(scores[i])) for i in top if scores[i] > 0]
