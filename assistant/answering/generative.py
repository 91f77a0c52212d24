"""Fluent answers from an LLM that still cite: the extractive check decides whether to ask at all."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

from langchain_core.embeddings import Embeddings

from assistant.answering.extractive import ExtractiveAnswerer
from assistant.answering.llm import LLMClient, LLMUsage
from assistant.answering.prompts import (
    answer_messages,
    condense_messages,
    cut_runaway,
    neutralize_instructions,
    says_not_in_sources,
)
from assistant.answering.types import ABSTAIN_TEXT, Answer
from assistant.answering.verification import check_answer
from assistant.errors import LLMTimeout, LLMUnavailable
from assistant.retrieval.retriever import Query, Retrieval, Turn, query_from_turns

logger = logging.getLogger(__name__)
MAX_CONDENSED_CHARS = 400


class GenerativeAnswerer:
    """Asks the LLM to answer from numbered passages, then verifies every marker and sentence."""

    def __init__(
        self,
        llm: LLMClient,
        extractive: ExtractiveAnswerer,
        embeddings: Embeddings,
        min_support: float,
        fallback_extractive: bool = False,
        gate: bool = False,
    ) -> None:
        self.llm = llm
        self._extractive = extractive
        self._gate = gate
        self._embeddings = embeddings
        self._min_support = min_support
        self._fallback = fallback_extractive

    def query(self, turns: list[Turn], usage: LLMUsage | None = None) -> Query:
        """A follow-up is rewritten by the LLM into a standalone question; offline combining if that fails."""
        offline = query_from_turns(turns)
        if not offline.context:  # query_from_turns keeps earlier turns only for a follow-up
            return offline
        try:
            condensed = self.llm.complete(condense_messages([t for t in turns if t.role != "system"]), usage)
        except (LLMUnavailable, LLMTimeout) as error:
            logger.warning("Condensing the follow-up failed (%s); combining turns instead", error)
            return offline
        # complete() returns stripped, non-empty text; keep its first line, unquoted.
        condensed = condensed.splitlines()[0].strip().strip('"').strip()
        if not condensed or len(condensed) > MAX_CONDENSED_CHARS:
            return offline
        return replace(offline, question=condensed)

    def answer(self, retrieval: Retrieval, usage: LLMUsage | None = None) -> Answer:
        *_, final = self.answer_stream(retrieval, stream=False, usage=usage)
        return final

    def answer_stream(
        self, retrieval: Retrieval, stream: bool = True, usage: LLMUsage | None = None
    ) -> Iterator[str | Answer]:
        """The LLM's text as it arrives (str pieces: a draft, not yet checked), then the verified
        Answer, always last. Errors before the first piece raise as from `answer`."""
        # With the gate, the offline answer model decides whether the passages answer at all and
        # the LLM is asked only when they do. Off by default: on held-out SQuAD questions it
        # traded answerable questions for refusals about evenly (bench/squad.py --generative).
        # Passages with nothing to quote never reach the LLM. The extractive quote is also the
        # fallback when the LLM fails.
        extractive = None
        if self._gate or not retrieval.passages:
            extractive = self._extractive.answer(retrieval)
            if extractive.abstained:
                yield extractive
                return
        shown = [neutralize_instructions(p.text) for p in retrieval.passages]
        messages = answer_messages(retrieval.query.question, shown, retrieval.query.history)
        pieces: list[str] = []
        try:
            if stream:
                for piece in self.llm.stream(messages, usage):
                    pieces.append(piece)
                    yield piece
                raw = cut_runaway("".join(pieces).strip())
            else:
                raw = cut_runaway(self.llm.complete(messages, usage))
        except (LLMUnavailable, LLMTimeout) as error:
            if not self._fallback:
                raise
            logger.warning("LLM failed (%s); answering extractively", error)
            extractive = extractive or self._extractive.answer(retrieval)
            yield replace(extractive, reason=f"Generative answer unavailable ({error.code}); quoted instead.")
            return
        # Without the gate the extractive answer is needed only now (its confidence, and the
        # refusal's shape): computed after the LLM, it stays out of the time to the first word.
        yield self._verified(raw, extractive or self._extractive.answer(retrieval), retrieval, shown)

    def _verified(self, raw: str, extractive: Answer, retrieval: Retrieval, shown: list[str]) -> Answer:
        if says_not_in_sources(raw):
            return replace(
                extractive,
                text=ABSTAIN_TEXT,
                citations=[],
                short_answer=None,
                abstained=True,
                reason="The language model found no answer in the retrieved passages.",
            )
        checked = check_answer(
            raw,
            retrieval.passages,
            retrieval.index.texts,
            self._min_support,
            self._embeddings.embed_documents,
            shown=shown,
        )
        if checked.dropped_markers:
            logger.info("Dropped markers pointing at no passage: %s", checked.dropped_markers)
        if checked.attributed:
            logger.info("Marked sentences the model left unmarked, after checking support: %s", checked.attributed)
        return Answer(
            text=checked.text,
            citations=checked.citations,
            abstained=False,
            unsupported=checked.unsupported,
            passages=retrieval.passages,
            generation=retrieval.index.generation,
            confidence=extractive.confidence,
        )
