"""Question (+ earlier user turns) -> ranked passages from the serving index."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from langchain_core.embeddings import Embeddings

from assistant.analysis.text import content_terms
from assistant.index.filters import DocumentFilter
from assistant.index.serving import IndexHandle, LoadedIndex, Passage


@dataclass(frozen=True)
class Turn:
    role: str
    content: str


@dataclass(frozen=True)
class Query:
    """What to search for: the question, plus earlier user turns when it is a follow-up."""

    question: str
    context: tuple[str, ...] = ()
    history: tuple[Turn, ...] = ()  # a follow-up's conversation so far, for an LLM to read

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
        last = max(i for i, turn in enumerate(turns) if turn.role == "user")
        said = [turn for turn in turns[:last] if turn.role in ("user", "assistant")]
        return Query(question=question, context=tuple(earlier), history=tuple(said[-2 * history_turns :]))
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
    """How hybrid retrieval merges the dense and BM25 rankings.

    Weighted fusion runs in two stages over the same three signals. The first, leaning on dense
    similarity, orders every candidate: a passage that shares no word with the question still
    ranks where its meaning puts it. The second re-orders that order's top `rerank_depth` with
    weights that trust keywords more, which sharpens the first few results. One set of weights
    could not do both on SciFact: the sharp one buries dense-only matches below rank 100, the
    dense-leaning one ranks the top ten worse.
    """

    method: str = "weighted"  # "weighted" (min-max normalized scores) or "rrf" (reciprocal rank)
    rrf_k: int = 60
    dense_weight: float = 0.45
    chunk_weight: float = 0.2
    document_weight: float = 0.35
    candidates: int = 50
    first_stage_weights: tuple[float, float, float] = (0.65, 0.15, 0.2)  # dense, chunk BM25, document BM25
    rerank_depth: int = 50  # 0: one stage, ranked by the weights above


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


def _weighted_sum(weights: list[float], scaled: list[dict[str, float]], candidates: list[str]) -> Ranking:
    fused = {
        cid: sum(weight * scores.get(cid, 0.0) for weight, scores in zip(weights, scaled, strict=True))
        for cid in candidates
    }
    return sorted(fused.items(), key=lambda item: item[1], reverse=True)


def weighted_fusion(
    signals: list[dict[str, float]], weights: list[float], first_weights: list[float] | None = None, depth: int = 0
) -> Ranking:
    """Weighted sum of min-max scaled scores over the union of candidates (missing = 0).

    With `first_weights` and a `depth`, every candidate is ranked by `first_weights` and only
    the top `depth` of that order is re-ranked by `weights`.
    """
    scaled = [_scaled(scores) for scores in signals]
    candidates = sorted(set().union(*scaled))  # sorted: ties break the same way on every run
    if first_weights is None or depth <= 0:
        return _weighted_sum(weights, scaled, candidates)
    first = _weighted_sum(first_weights, scaled, candidates)
    head = _weighted_sum(weights, scaled, [cid for cid, _ in first[:depth]])
    return head + first[depth:]


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

    def retrieve(self, query: Query, k: int | None = None, document_filter: DocumentFilter | None = None) -> Retrieval:
        """The best k passages; with a filter, only from the documents it admits."""
        k = k or self._top_k
        index = self._handle.current()
        text = query.search_text
        # The query vector is needed in every mode: answer selection compares sentences to it.
        vector = self._embeddings.embed_query(text)
        admitted = index.admitted(document_filter)
        if admitted is not None and not admitted:
            return Retrieval(index=index, query=query, query_vector=vector)
        pool = max(k, self._fusion.candidates)
        dense: Ranking = []
        lexical: Ranking = []
        if self._mode != "lexical" or index.lexical is None:
            hits = index.store.query(vector, pool if self._mode == "hybrid" else k, sources=admitted)
            dense = [(hit.chunk_id, hit.score) for hit in hits]
        if self._mode != "dense" and index.lexical is not None:
            lexical = index.lexical.search(text, pool, keep=index.chunk_mask(admitted))
        ranked = self._merge(index, text, dense, lexical, admitted)[:k]

        similarity = dict(dense)
        similarity.update(index.store.similarities(vector, [cid for cid, _ in ranked if cid not in similarity]))
        passages = [
            index.passage(cid, round(score, 4), round(similarity.get(cid, 0.0), 4))
            for cid, score in ranked
            if cid in index.chunks
        ]
        return Retrieval(index=index, query=query, query_vector=vector, passages=passages)

    def _merge(
        self, index: LoadedIndex, text: str, dense: Ranking, lexical: Ranking, admitted: set[str] | None
    ) -> Ranking:
        if not lexical:
            return dense
        if not dense:
            return lexical
        if self._fusion.method == "rrf":
            return reciprocal_rank_fusion([dense, lexical], self._fusion.rrf_k)
        candidates = {cid for cid, _ in dense} | {cid for cid, _ in lexical}
        # Which document is about the query at all: BM25 over whole documents, given to each chunk.
        document_lexical = index.document_lexical
        by_document = document_lexical.scores(text, index.document_mask(admitted)) if document_lexical else {}
        document = {cid: by_document.get(index.chunks[cid].source, 0.0) for cid in candidates if cid in index.chunks}
        fusion = self._fusion
        return weighted_fusion(
            [dict(dense), dict(lexical), document],
            [fusion.dense_weight, fusion.chunk_weight, fusion.document_weight],
            list(fusion.first_stage_weights),
            fusion.rerank_depth,
        )
