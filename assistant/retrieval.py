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


class Retriever:
    """Dense retrieval over the serving index."""

    def __init__(self, handle: IndexHandle, embeddings: Embeddings, top_k: int) -> None:
        self._handle = handle
        self._embeddings = embeddings
        self._top_k = top_k

    def retrieve(self, query: Query, k: int | None = None) -> Retrieval:
        k = k or self._top_k
        index = self._handle.current()
        vector = self._embeddings.embed_query(query.search_text)
        hits = index.store.query(vector, k)
        passages = [index.passage(hit.chunk_id, round(hit.score, 4)) for hit in hits if hit.chunk_id in index.chunks]
        return Retrieval(index=index, query=query, query_vector=vector, passages=passages)
