"""The only module that touches chromadb: one collection per index generation, embedded or server."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import chromadb  # noqa: E402
import numpy as np  # noqa: E402
from chromadb.config import Settings as ChromaSettings  # noqa: E402
from langchain_chroma import Chroma  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402

from assistant.analysis.chunking import Chunk  # noqa: E402
from assistant.errors import StoreUnavailable  # noqa: E402

logger = logging.getLogger(__name__)


def _client_settings() -> ChromaSettings:
    # A fresh object each time: HttpClient writes the host and port into the settings it is
    # given, and refuses a second server named through the same object.
    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


_COPY_PAGE = 1000


@dataclass(frozen=True)
class StoreLocation:
    """Where one generation's vectors live: a directory (embedded) or a server collection."""

    chroma_url: str | None
    generation_dir: Path
    collection: str

    @property
    def embedded(self) -> bool:
        return self.chroma_url is None


@dataclass(frozen=True)
class StoredHit:
    chunk_id: str
    score: float


def _client(location: StoreLocation):
    try:
        if location.embedded:
            return chromadb.PersistentClient(path=str(location.generation_dir / "chroma"), settings=_client_settings())
        url = urlparse(location.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise StoreUnavailable(f"ASSISTANT_CHROMA_URL must look like http://host:port, got {location.chroma_url!r}")
        return chromadb.HttpClient(
            host=url.hostname,
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=_client_settings(),
        )
    except StoreUnavailable:
        raise
    except Exception as error:  # chromadb raises many types for "cannot connect"
        raise StoreUnavailable(f"Chroma at {location.chroma_url or location.generation_dir}: {error}") from error


class ChunkStore:
    """One generation's chunks and their vectors, through langchain-chroma."""

    def __init__(self, location: StoreLocation, embeddings: Embeddings, create: bool) -> None:
        self.location = location
        self._client = _client(location)
        try:
            self._vectors = Chroma(
                collection_name=location.collection,
                embedding_function=embeddings,
                client=self._client,
                collection_configuration={"hnsw": {"space": "cosine"}},
                create_collection_if_not_exists=create,
            )
            # The raw collection lets unchanged chunks move between generations with their
            # vectors, so a rebuild never re-embeds text that did not change.
            self._collection = self._client.get_collection(location.collection)
            self._size: int | None = None
        except Exception as error:
            raise StoreUnavailable(f"Chroma collection {location.collection}: {error}") from error

    def add(self, chunks: list[Chunk]) -> None:
        """Embed and store chunks."""
        self._size = None
        if not chunks:
            return
        self._vectors.add_texts(
            texts=[chunk.text for chunk in chunks],
            metadatas=[_metadata(chunk) for chunk in chunks],
            ids=[chunk.id for chunk in chunks],
        )

    def add_with_vectors(self, chunks: list[Chunk], vectors: list[list[float]]) -> None:
        """Store chunks whose vectors were computed elsewhere (benchmarks with synthetic data)."""
        self._size = None
        for begin in range(0, len(chunks), _COPY_PAGE):
            batch = chunks[begin : begin + _COPY_PAGE]
            self._collection.add(
                ids=[chunk.id for chunk in batch],
                embeddings=vectors[begin : begin + _COPY_PAGE],
                documents=[chunk.text for chunk in batch],
                metadatas=[_metadata(chunk) for chunk in batch],
            )

    def copy_sources(self, other: ChunkStore, sources: set[str]) -> int:
        """Copy every chunk of `sources` from another generation, vectors included."""
        self._size = None
        copied = 0
        offset = 0
        while True:
            page = other._collection.get(
                limit=_COPY_PAGE, offset=offset, include=["embeddings", "documents", "metadatas"]
            )
            if not page["ids"]:
                return copied
            offset += len(page["ids"])
            keep = [i for i, meta in enumerate(page["metadatas"]) if meta["source"] in sources]
            if keep:
                self._collection.add(
                    ids=[page["ids"][i] for i in keep],
                    embeddings=[page["embeddings"][i] for i in keep],
                    documents=[page["documents"][i] for i in keep],
                    metadatas=[page["metadatas"][i] for i in keep],
                )
                copied += len(keep)

    def query(self, embedding: list[float], k: int, sources: set[str] | None = None) -> list[StoredHit]:
        """Nearest chunks by cosine similarity (1 = same direction); with `sources`, only theirs."""
        # A served generation never changes, so its size is asked once (a round trip per query).
        try:  # a server gone before the first query is a 503 too, not a raw 500
            if self._size is None:
                self._size = self.count()
        except Exception as error:
            raise StoreUnavailable(f"Chroma count failed: {error}") from error
        k = min(k, self._size)
        if k <= 0:
            return []
        try:
            where = None if sources is None else {"source": {"$in": sorted(sources)}}
            pairs = self._vectors.similarity_search_by_vector_with_relevance_scores(embedding, k=k, filter=where)
        except Exception as error:
            raise StoreUnavailable(f"Chroma query failed: {error}") from error
        return [StoredHit(chunk_id=document.id, score=1.0 - distance) for document, distance in pairs]

    def similarities(self, embedding: list[float], chunk_ids: list[str]) -> dict[str, float]:
        """Cosine similarity of given chunks to a query vector (vectors are normalized)."""
        if not chunk_ids:
            return {}
        found = self._collection.get(ids=chunk_ids, include=["embeddings"])
        query = np.asarray(embedding, dtype=np.float32)
        vectors = np.asarray(found["embeddings"], dtype=np.float32)
        return dict(zip(found["ids"], (vectors @ query).tolist(), strict=True))

    def count(self) -> int:
        return self._collection.count()

    def chunk_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        offset = 0
        while True:
            page = self._collection.get(limit=_COPY_PAGE, offset=offset, include=["metadatas"])
            if not page["ids"]:
                return counts
            offset += len(page["ids"])
            for meta in page["metadatas"]:
                counts[meta["source"]] = counts.get(meta["source"], 0) + 1

    def close(self) -> None:
        """Release the client (SQLite handles, HNSW caches); Chroma frees them with the last user."""
        try:
            self._client.close()
        except Exception as error:  # noqa: BLE001 - closing what is already gone is fine
            logger.debug("Closing Chroma client for %s: %s", self.location.collection, error)

    def heartbeat(self) -> None:
        try:
            self._client.heartbeat()
        except Exception as error:
            raise StoreUnavailable(f"Chroma is unreachable: {error}") from error


def drop(location: StoreLocation) -> None:
    """Delete a generation's vectors; missing ones are fine (a crash may have left half)."""
    if location.embedded:
        shutil.rmtree(location.generation_dir / "chroma", ignore_errors=True)
        return
    try:
        _client(location).delete_collection(location.collection)
    except Exception as error:  # noqa: BLE001 - already gone is the goal
        logger.debug("Could not delete collection %s: %s", location.collection, error)


def _metadata(chunk: Chunk) -> dict:
    metadata = {"source": chunk.source, "index": chunk.index, "start": chunk.start, "end": chunk.end}
    if chunk.page is not None:
        metadata["page"] = chunk.page
    return metadata
