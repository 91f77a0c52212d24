"""Opens the serving index generation for reading, and follows the pointer when a rebuild moves it."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from langchain_core.embeddings import Embeddings

from assistant.catalog import Catalog, ChunkRecord, Manifest
from assistant.errors import DocumentNotFound
from assistant.lexical import LexicalIndex
from assistant.store import ChunkStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Passage:
    """A span of a source document, as retrieved or cited."""

    chunk_id: str
    source: str
    start: int
    end: int
    text: str
    score: float
    page: int | None = None
    title: str = ""
    similarity: float = 0.0  # cosine similarity to the query, whatever ranked it


class LoadedIndex:
    """One generation, opened: its manifest, document texts, chunk table and vector store.

    A request holds one LoadedIndex from start to end, so it never mixes two generations.
    """

    def __init__(self, catalog: Catalog, generation: str, embeddings: Embeddings) -> None:
        self.generation = generation
        self.manifest: Manifest = catalog.read_manifest(generation)
        self.store = ChunkStore(catalog.location(generation), embeddings, create=False)
        self.texts = {doc_id: catalog.read_text(generation, doc) for doc_id, doc in self.manifest.documents.items()}
        self.chunks: dict[str, ChunkRecord] = {
            record.id: record for doc in self.manifest.documents.values() for record in doc.chunk_records()
        }
        lexical_dir = catalog.lexical_dir(generation)
        self.lexical = LexicalIndex.load(lexical_dir) if lexical_dir.is_dir() else None
        document_dir = catalog.document_lexical_dir(generation)
        self.document_lexical = LexicalIndex.load(document_dir) if document_dir.is_dir() else None

    def passage(self, chunk_id: str, score: float, similarity: float = 0.0) -> Passage:
        record = self.chunks[chunk_id]
        return Passage(
            chunk_id=chunk_id,
            source=record.source,
            start=record.start,
            end=record.end,
            text=self.texts[record.source][record.start : record.end],
            score=score,
            page=record.page,
            title=self.manifest.documents[record.source].title,
            similarity=similarity,
        )

    def document_text(self, doc_id: str) -> str:
        try:
            return self.texts[doc_id]
        except KeyError:
            raise DocumentNotFound(f"No document {doc_id!r} in the index.") from None


class IndexHandle:
    """The index a server answers from; picks up a new generation once its pointer moves."""

    def __init__(self, catalog: Catalog, embeddings: Embeddings) -> None:
        self._catalog = catalog
        self._embeddings = embeddings
        self._lock = threading.Lock()
        self._loaded: LoadedIndex | None = None
        self._stamp: tuple[int, int] | None = None
        self._retired: LoadedIndex | None = None

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    def current(self) -> LoadedIndex:
        stamp = self._catalog.pointer_stamp()
        loaded = self._loaded
        if loaded is not None and stamp == self._stamp:
            return loaded
        with self._lock:
            if self._loaded is None or stamp != self._stamp:
                generation = self._catalog.require_current()
                if self._loaded is None or self._loaded.generation != generation:
                    logger.info("Serving index generation %s", generation)
                    # Requests last milliseconds and rebuilds seconds: the generation before the
                    # one just replaced has no request left on it, so its Chroma client can go.
                    if self._retired is not None:
                        self._retired.store.close()
                    self._retired = self._loaded
                    self._loaded = LoadedIndex(self._catalog, generation, self._embeddings)
                self._stamp = stamp
            return self._loaded
