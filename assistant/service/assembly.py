"""Builds the heavy parts once from Settings and offers the three things people do with them."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from langchain_core.embeddings import Embeddings

from assistant.analysis.chunking import Chunker
from assistant.answering.extractive import ExtractiveAnswerer
from assistant.answering.generative import GenerativeAnswerer
from assistant.answering.llm import LLMClient, LLMUsage
from assistant.answering.reader import Reader
from assistant.answering.selector import READER_WEIGHTS, WEIGHTS, AnswerModel
from assistant.answering.types import Answer
from assistant.errors import InvalidQuestion, Misconfigured
from assistant.index.build import Indexer
from assistant.index.catalog import Catalog
from assistant.index.embeddings import load_embeddings, load_tokenizer, model_window
from assistant.index.filters import DocumentFilter
from assistant.index.serving import IndexHandle
from assistant.retrieval.retriever import Fusion, Retrieval, Retriever, Turn, query_from_turns
from assistant.service.collections import DEFAULT, Library, catalog_for, sources_dir
from assistant.settings import Settings, packaged_model_path

logger = logging.getLogger(__name__)


@dataclass
class Assistant:
    settings: Settings
    embeddings: Embeddings
    catalog: Catalog
    handle: IndexHandle
    retriever: Retriever
    extractive: ExtractiveAnswerer
    generative: GenerativeAnswerer | None = None
    collection: str = DEFAULT

    @property
    def sources(self) -> Path:
        """The collection's folder of documents."""
        return sources_dir(self.settings, self.collection)

    def ask(self, turns: list[Turn], top_k: int | None = None, document_filter: DocumentFilter | None = None) -> Answer:
        *_, answer = self.ask_stream(turns, top_k, stream=False, document_filter=document_filter)
        return answer

    def ask_stream(
        self,
        turns: list[Turn],
        top_k: int | None = None,
        stream: bool = True,
        document_filter: DocumentFilter | None = None,
    ) -> Iterator[str | Answer]:
        """A generative answer's draft text as the LLM writes it (str pieces), then the verified
        Answer, always last. Extractive answers come whole: the Answer alone."""
        validate_turns(turns, self.settings)
        k = self._k(top_k)
        usage = LLMUsage()
        started = time.perf_counter()
        if self.generative is not None:
            retrieval = self.retriever.retrieve(self.generative.query(turns, usage), k, document_filter)
        else:
            retrieval = self.retriever.retrieve(query_from_turns(turns), k, document_filter)
        retrieved = time.perf_counter()
        if self.generative is not None:
            for item in self.generative.answer_stream(retrieval, stream=stream, usage=usage):
                if isinstance(item, str):
                    yield item
                else:
                    answer = item
        else:
            answer = self.extractive.answer(retrieval)
        timings = {"retrieval": retrieved - started, "answer": time.perf_counter() - retrieved, "llm": usage.seconds}
        yield replace(answer, timings=timings, llm_usage=usage if usage.calls else None)

    def ask_text(self, question: str, top_k: int | None = None) -> Answer:
        """One standalone question, no conversation."""
        return self.ask([Turn("user", question)], top_k)

    def search(self, query: str, top_k: int | None = None, document_filter: DocumentFilter | None = None) -> Retrieval:
        validate_text(query, self.settings, what="query")
        return self.retriever.retrieve(query_from_turns([Turn("user", query)]), self._k(top_k), document_filter)

    def indexer(self) -> Indexer:
        path = self.settings.embedding_model_path
        chunker = Chunker(
            load_tokenizer(path),
            self.settings.chunk_tokens,
            self.settings.chunk_overlap_tokens,
            model_window(path),
        )
        return Indexer(
            self.settings, self.sources, self.catalog, self.embeddings, chunker, on_switch=self.handle.follow_rebuild
        )

    def _k(self, top_k: int | None) -> int:
        if top_k is None:
            return self.settings.top_k
        if not 1 <= top_k <= self.settings.max_top_k:
            raise InvalidQuestion(f"top_k must be between 1 and {self.settings.max_top_k}, got {top_k}.")
        return top_k


def validate_text(text: str, settings: Settings, what: str = "question") -> None:
    _encodable(text, what)
    if not text.strip():
        raise InvalidQuestion(f"The {what} is empty.")
    if len(text) > settings.max_question_chars:
        raise InvalidQuestion(f"The {what} is {len(text)} characters long; the limit is {settings.max_question_chars}.")


def _encodable(text: str, what: str) -> None:
    """Text must be valid Unicode: a lone surrogate ("\\ud800" in JSON, undecodable bytes on a
    command line) cannot be tokenized, stored or sent back."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidQuestion(
            f"The {what} is not valid Unicode text (character {error.start}: {text[error.start]!a})."
        ) from None


def validate_turns(turns: list[Turn], settings: Settings) -> None:
    if not turns:
        raise InvalidQuestion("No messages: send at least one user message.")
    if len(turns) > settings.max_messages:
        raise InvalidQuestion(f"{len(turns)} messages sent; the limit is {settings.max_messages}.")
    for turn in turns:
        if turn.role not in ("user", "assistant", "system"):
            raise InvalidQuestion(f"Unknown role {turn.role!r}: use 'user' or 'assistant'.")
        _encodable(turn.content, "message")
    user_turns = [turn for turn in turns if turn.role == "user"]
    if not user_turns:
        raise InvalidQuestion("No user message: the last question must come from the user.")
    validate_text(user_turns[-1].content, settings)


def build_library(
    settings: Settings, embeddings: Embeddings | None = None, answer_model: AnswerModel | None = None
) -> Library:
    """Everything heavy, built once: the model (seconds) and the answerers, shared by every
    collection; each collection's catalog and index handle are built when first asked for."""
    embeddings = embeddings or load_embeddings(
        settings.embedding_model_path, settings.embedding_batch_size, settings.embedding_backend, settings.model_cache
    )
    extractive = extractive_answerer(settings, answer_model)
    generative = None
    if settings.generative:
        if not settings.llm_base_url:
            raise Misconfigured("ASSISTANT_ANSWERER=generative needs ASSISTANT_LLM_BASE_URL.")
        generative = GenerativeAnswerer(
            LLMClient(settings),
            extractive,
            embeddings,
            settings.llm_min_support,
            fallback_extractive=settings.llm_fallback_extractive,
            gate=settings.llm_gate,
        )

    return Library(settings, _builder(settings, embeddings, extractive, generative))


def extractive_answerer(settings: Settings, answer_model: AnswerModel | None = None) -> ExtractiveAnswerer:
    """With the reader model unless ASSISTANT_READER=false (or a given model was trained without it)."""
    model = answer_model or AnswerModel.load(READER_WEIGHTS if settings.reader else WEIGHTS)
    reader = Reader(packaged_model_path()) if model.uses_reader else None
    return ExtractiveAnswerer(model, settings.min_answer_confidence, settings.max_answer_sentences, reader)


def library_from(assistant: Assistant) -> Library:
    """A library around an already-built assistant, sharing its model and answerers (tests)."""
    library = Library(
        assistant.settings,
        _builder(assistant.settings, assistant.embeddings, assistant.extractive, assistant.generative),
    )
    library.adopt(assistant)
    return library


def _builder(
    settings: Settings, embeddings: Embeddings, extractive: ExtractiveAnswerer, generative: GenerativeAnswerer | None
):
    def build(collection: str) -> Assistant:
        catalog = catalog_for(settings, collection)
        handle = IndexHandle(catalog, embeddings)
        return Assistant(
            settings=settings,
            embeddings=embeddings,
            catalog=catalog,
            handle=handle,
            retriever=Retriever(
                handle,
                embeddings,
                settings.top_k,
                mode=settings.retrieval,
                fusion=Fusion(
                    settings.fusion,
                    settings.rrf_k,
                    settings.dense_weight,
                    settings.chunk_bm25_weight,
                    settings.document_bm25_weight,
                    settings.fusion_candidates,
                    rerank_depth=settings.fusion_rerank_depth,
                ),
            ),
            extractive=extractive,
            generative=generative,
            collection=collection,
        )

    return build


def build_assistant(
    settings: Settings,
    embeddings: Embeddings | None = None,
    answer_model: AnswerModel | None = None,
    collection: str = DEFAULT,
) -> Assistant:
    """One collection's assistant (the default one unless named)."""
    return build_library(settings, embeddings, answer_model).get(collection)
