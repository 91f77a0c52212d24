"""Question (+ earlier user turns) -> ranked passages from the serving index."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from langchain_core.embeddings import Embeddings

from assistant.reader import IndexHandle, LoadedIndex, Passage
from assistant.text import content_terms


@dataclass(frozen=True)
class Turn:
    role: str
    content: str


@dataclass(frozen=True)
class Query:
    """What to search for: the question, plus earlier user turns when it is a follow-up."""

    question: str
    context: tuple[str, ...] = ()

    @property
    def search_text(self) -> str:
        return " ".join((*self.context, self.question))


_FOLLOW_UP_OPENERS = re.compile(r"^\s*(and|also|what about|how about|then|so)\b", re.IGNORECASE)
_ANAPHORA = re.compile(
    r"\b(it|its|they|them|their|he|him|his|she|her|this|that|these|those|there|the same)\b", re.IGNORECASE
)


def query_from_turns(turns: list[Turn], history_turns: int = 2) -> Query:
    """The last user turn is the question; earlier user turns join it only when it needs them.

    A follow-up ("And when was it founded?") names nothing by itself, so searching it alone
    finds noise; a standalone question is searched as it is, so an old topic cannot drag it off.
    """
    user_turns = [turn.content for turn in turns if turn.role == "user"]
    question = user_turns[-1]
    earlier = user_turns[:-1][-history_turns:]
    if earlier and is_follow_up(question):
        return Query(question=question, context=tuple(earlier))
    return Query(question=question)


def is_follow_up(question: str) -> bool:
    return bool(_FOLLOW_UP_OPENERS.search(question) or _ANAPHORA.search(question) or len(content_terms(question)) < 2)


@dataclass(frozen=True)
class Retrieval:
    """Passages found for one query, tied to the generation they came from."""

    index: LoadedIndex
    query: Query
    query_vector: list[float]
    passages: list[Passage] = field(default_factory=list)


@dataclass(frozen=True)
class Fusion:
    """How hybrid retrieval merges the dense and BM25 rankings."""

    method: str = "weighted"  # "weighted" (min-max normalized scores) or "rrf" (reciprocal rank)
    rrf_k: int = 60
    dense_weight: float = 0.45
    chunk_weight: float = 0.2
    document_weight: float = 0.35
    candidates: int = 50


Ranking = list[tuple[str, float]]


def reciprocal_rank_fusion(rankings: list[Ranking], k: int) -> Ranking:
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, (chunk_id, _) in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: item[1], reverse=True)


def _scaled(scores: dict[str, float]) -> dict[str, float]:
    """Min-max to [0, 1]; all-equal scores carry no information and scale to 0."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    return {key: (value - low) / (high - low) if high > low else 0.0 for key, value in scores.items()}


def weighted_fusion(signals: list[tuple[float, dict[str, float]]]) -> Ranking:
    """Sum of weighted, min-max scaled scores over the union of candidates (missing = 0)."""
    scaled = [(weight, _scaled(scores)) for weight, scores in signals]
    candidates = set().union(*(scores.keys() for _, scores in scaled))
    fused = {cid: sum(weight * scores.get(cid, 0.0) for weight, scores in scaled) for cid in candidates}
    return sorted(fused.items(), key=lambda item: item[1], reverse=True)


class Retriever:
    """Dense, BM25 or hybrid (fused) retrieval over the serving index."""

    def __init__(
        self, handle: IndexHandle, embeddings: Embeddings, top_k: int, mode: str = "hybrid", fusion: Fusion = Fusion()
    ) -> None:
        self._handle = handle
        self._embeddings = embeddings
        self._top_k = top_k
        self._mode = mode
        self._fusion = fusion

    def retrieve(self, query: Query, k: int | None = None) -> Retrieval:
        k = k or self._top_k
        index = self._handle.current()
        text = query.search_text
        # The query vector is needed in every mode: answer selection compares sentences to it.
        vector = self._embeddings.embed_query(text)
        pool = max(k, self._fusion.candidates)
        dense: Ranking = []
        lexical: Ranking = []
        if self._mode != "lexical" or index.lexical is None:
            dense = [
                (hit.chunk_id, hit.score) for hit in index.store.query(vector, pool if self._mode == "hybrid" else k)
            ]
        if self._mode != "dense" and index.lexical is not None:
            lexical = index.lexical.search(text, pool)
        ranked = self._merge(index, text, dense, lexical)[:k]

        similarity = dict(dense)
        similarity.update(index.store.similarities(vector, [cid for cid, _ in ranked if cid not in similarity]))
        passages = [
            index.passage(cid, round(score, 4), round(similarity.get(cid, 0.0), 4))
            for cid, score in ranked
            if cid in index.chunks
        ]
        return Retrieval(index=index, query=query, query_vector=vector, passages=passages)

    def _merge(self, index: LoadedIndex, text: str, dense: Ranking, lexical: Ranking) -> Ranking:
        if not lexical:
            return dense
        if not dense:
            return lexical
        if self._fusion.method == "rrf":
            return reciprocal_rank_fusion([dense, lexical], self._fusion.rrf_k)
        candidates = {cid for cid, _ in dense} | {cid for cid, _ in lexical}
        # Which document is about the query at all: BM25 over whole documents, given to each chunk.
        by_document = index.document_lexical.scores(text) if index.document_lexical else {}
        document = {cid: by_document.get(index.chunks[cid].source, 0.0) for cid in candidates if cid in index.chunks}
        return weighted_fusion(
            [
                (self._fusion.dense_weight, dict(dense)),
                (self._fusion.chunk_weight, dict(lexical)),
                (self._fusion.document_weight, document),
            ]
        )
