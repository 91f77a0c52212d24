"""Opens the serving index generation for reading, and follows the pointer when a rebuild moves it."""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.analysis import sentences
from assistant.analysis.sentences import SentenceIndex
from assistant.analysis.topics import example_questions
from assistant.errors import DocumentNotFound, IndexCorrupt
from assistant.index.catalog import REBUILD, Catalog, ChunkRecord, Manifest
from assistant.index.filters import DocumentFilter
from assistant.index.lexical import LexicalIndex
from assistant.index.store import ChunkStore

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
        try:
            self._read_files(catalog, generation)
        except (OSError, ValueError, KeyError) as error:
            detail = f"{type(error).__name__}: {error}"
            raise IndexCorrupt(f"Generation {generation} cannot be read ({detail}); {REBUILD}") from None
        self.store = ChunkStore(catalog.location(generation), embeddings, create=False)
        # Its Chroma client closes when the last holder lets go: the handle, once it serves a
        # newer generation, and every request still reading this one (CPython frees at once).
        weakref.finalize(self, self.store.close)

    def _read_files(self, catalog: Catalog, generation: str) -> None:
        self.texts = {doc_id: catalog.read_text(generation, doc) for doc_id, doc in self.manifest.documents.items()}
        self.chunks: dict[str, ChunkRecord] = {
            record.id: record for doc in self.manifest.documents.values() for record in doc.chunk_records()
        }
        sentences_dir = catalog.sentences_dir(generation)
        self.sentences = SentenceIndex(
            self.texts,
            {doc_id: sentences.load(sentences_dir, doc.stem) for doc_id, doc in self.manifest.documents.items()},
        )
        lexical_dir = catalog.lexical_dir(generation)
        self.lexical = LexicalIndex.load(lexical_dir) if lexical_dir.is_dir() else None
        document_dir = catalog.document_lexical_dir(generation)
        self.document_lexical = LexicalIndex.load(document_dir) if document_dir.is_dir() else None
        # Which document each BM25 entry belongs to, to mask entries by a filter.
        chunk_owners = [cid.rsplit("#", 1)[0] for cid in self.lexical.ids] if self.lexical else []
        self._chunk_owners = np.array(chunk_owners, dtype=object)
        self._document_owners = np.array(self.document_lexical.ids if self.document_lexical else [], dtype=object)

    def admitted(self, document_filter: DocumentFilter | None) -> set[str] | None:
        """The documents a filter admits; None when there is no filter (all of them)."""
        if document_filter is None:
            return None
        return {i for i, doc in self.manifest.documents.items() if document_filter.admits(doc.fields())}

    def chunk_mask(self, admitted: set[str] | None) -> np.ndarray | None:
        """Which chunk BM25 entries belong to admitted documents (None: all)."""
        return None if admitted is None else np.isin(self._chunk_owners, list(admitted))

    def document_mask(self, admitted: set[str] | None) -> np.ndarray | None:
        return None if admitted is None else np.isin(self._document_owners, list(admitted))

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

    @cached_property
    def example_questions(self) -> list[str]:
        """Questions an empty chat page suggests, made once per generation from its documents."""
        documents = self.manifest.documents
        return example_questions((doc.title if doc.title != i else "", self.texts[i]) for i, doc in documents.items())

    def document_text(self, doc_id: str) -> str:
        try:
            return self.texts[doc_id]
        except KeyError:
            raise DocumentNotFound(f"No document {doc_id!r} in the index.") from None


class IndexHandle:
    """The index a server answers from; picks up a new generation once its pointer moves.

    The first generation is loaded by the first request (there is nothing else to answer from).
    After that, a moved pointer is followed in the background: requests keep the generation they
    have until the new one has loaded, and a generation that fails to load leaves the serving
    one in place (it is tried again when the pointer moves again). A rebuild in this process
    switches at once (`refresh`), so what it wrote is what the next request sees.
    """

    def __init__(self, catalog: Catalog, embeddings: Embeddings) -> None:
        self._catalog = catalog
        self._embeddings = embeddings
        self._lock = threading.Lock()  # held only to read or swap what is served: never while loading
        self._loading = threading.Lock()  # one load of a new generation at a time
        self._loaded: LoadedIndex | None = None
        self._stamp: tuple[int, int] | None = None
        self._switching = False
        self._failed_stamp: tuple[int, int] | None = None

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    def current(self) -> LoadedIndex:
        stamp = self._catalog.pointer_stamp()
        loaded = self._loaded
        if loaded is not None and stamp == self._stamp:
            return loaded
        if loaded is None:
            return self.refresh()
        self._switch_in_background(stamp)
        return loaded

    def refresh(self) -> LoadedIndex:
        """Follow the pointer now, in this thread; errors propagate (nothing is replaced). The new
        generation loads outside the lock requests take: they keep answering from the old one."""
        with self._loading:
            stamp = self._catalog.pointer_stamp()
            loaded = self._loaded
            if loaded is not None and stamp == self._stamp:
                return loaded
            index = self._open()
            with self._lock:
                self._install(index, stamp)
                return self._loaded

    def follow_rebuild(self) -> None:
        """After a rebuild in this process: serve what it wrote at once, if serving at all."""
        if self._loaded is None:
            return
        try:
            self.refresh()
        except Exception as error:  # noqa: BLE001 - the rebuild is done; the next request retries
            logger.error("Cannot load the rebuilt index (%s); still serving %s", error, self._loaded.generation)

    def close(self) -> None:
        """Release the stores (the collection is being deleted)."""
        with self._lock:
            if self._loaded is not None:
                self._loaded.store.close()
            self._loaded = None

    def _open(self) -> LoadedIndex:
        generation = self._catalog.require_current()
        if self._loaded is not None and self._loaded.generation == generation:
            return self._loaded
        return LoadedIndex(self._catalog, generation, self._embeddings)

    def _install(self, index: LoadedIndex, stamp: tuple[int, int] | None) -> None:
        """Serve `index` from now on (the caller holds the lock)."""
        loaded = self._loaded
        if loaded is not None and index is not loaded and index.generation == loaded.generation:
            # A rebuild's own switch and a request's background one both opened the new
            # generation. Keep the one serving: installing the twin would retire, and close, the
            # generation before it while requests are still reading it.
            index.store.close()
        elif index is not loaded:
            logger.info("Serving index generation %s", index.generation)
            # The replaced generation is closed by its finalizer when its last reader is done.
            self._loaded = index
        self._stamp = stamp

    def _switch_in_background(self, stamp: tuple[int, int] | None) -> None:
        with self._lock:
            if self._switching or stamp == self._stamp or stamp == self._failed_stamp:
                return
            self._switching = True
        threading.Thread(target=self._switch, args=(stamp,), name="index-switch", daemon=True).start()

    def _switch(self, stamp: tuple[int, int] | None) -> None:
        try:
            with self._loading:
                index = self._open()
        except Exception as error:  # noqa: BLE001 - any failure keeps the serving generation
            logger.error("Cannot load the new index generation (%s); still serving %s", error, self._loaded.generation)
            with self._lock:
                self._failed_stamp, self._switching = stamp, False
            return
        with self._lock:
            self._install(index, stamp)
            self._switching = False
