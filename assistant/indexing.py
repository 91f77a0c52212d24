"""Rebuild: diff sources by content hash, embed only what changed, write a generation, switch."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from langchain_core.embeddings import Embeddings

from assistant import store
from assistant.catalog import Catalog, DocumentRecord, Manifest
from assistant.chunking import Chunk, Chunker
from assistant.errors import SourceUnreadable
from assistant.lexical import LexicalIndex
from assistant.loading import SourceFile, load_document, scan_sources
from assistant.settings import Settings

logger = logging.getLogger(__name__)

CHUNKER_VERSION = 1
EMBED_BATCH = 256
KEEP_GENERATIONS = 3  # the new one plus two that servers may still be finishing requests on
# Whole documents saturate sooner than chunks: a document that names most of the query's terms
# beats one that repeats a few (SciFact nDCG@10 0.7496 -> 0.7521 with k1 0.8 instead of 1.5).
# Changing it means renaming Catalog.document_lexical_dir, so old generations get rebuilt.
DOCUMENT_BM25_K1 = 0.8

Progress = Callable[[int, int], None]


@dataclass
class RebuildReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: list[dict] = field(default_factory=list)
    chunks: int = 0
    embedded: int = 0
    seconds: float = 0.0
    generation: str | None = None
    full: bool = False
    changed: bool = False

    def to_json(self) -> dict:
        return asdict(self)


def fingerprint(settings: Settings) -> dict:
    """What the vectors depend on; when it changes every document is re-embedded."""
    return {
        "embedding_model": model_identity(settings.embedding_model_path),
        "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap_tokens": settings.chunk_overlap_tokens,
        "chunker_version": CHUNKER_VERSION,
    }


def model_identity(model_path: str) -> str:
    """Identifies the weights by content, not by install path (a venv moves between clones)."""
    root = Path(model_path)
    digest = hashlib.sha256()
    for name in ("config.json", "modules.json", "sentence_bert_config.json"):
        if (root / name).is_file():
            digest.update((root / name).read_bytes())
    for weights in sorted(root.glob("*.safetensors")) + sorted(root.glob("*.bin")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return f"{root.name}:{digest.hexdigest()[:16]}"


class Indexer:
    """Builds index generations from a sources directory."""

    def __init__(self, settings: Settings, catalog: Catalog, embeddings: Embeddings, chunker: Chunker) -> None:
        self._settings = settings
        self._catalog = catalog
        self._embeddings = embeddings
        self._chunker = chunker

    def rebuild(self, progress: Progress | None = None, wait_for_lock: bool = False) -> RebuildReport:
        started = time.perf_counter()
        with self._catalog.rebuild_lock(wait=wait_for_lock):
            report = self._rebuild_locked(progress)
        report.seconds = round(time.perf_counter() - started, 3)
        return report

    def _rebuild_locked(self, progress: Progress | None) -> RebuildReport:
        catalog = self._catalog
        wanted_fingerprint = fingerprint(self._settings)
        sources = {source.id: source for source in scan_sources(self._settings.sources_dir)}
        previous_name = catalog.current_generation()
        previous = catalog.read_manifest(previous_name) if previous_name else None
        full = previous is None or previous.fingerprint != wanted_fingerprint
        previous_docs = previous.documents if previous else {}
        # After a settings change no old vector can be reused: every document is "changed".
        reusable = {} if full else previous_docs

        unchanged = [i for i, s in sources.items() if i in reusable and reusable[i].content_hash == s.content_hash]
        changed = [i for i in sources if i not in reusable or reusable[i].content_hash != sources[i].content_hash]
        removed = [i for i in previous_docs if i not in sources]
        report = RebuildReport(full=full, generation=previous_name)

        # A generation from before a side index existed is rewritten (vectors copied, not re-embedded).
        extras_missing = previous_name is not None and not catalog.document_lexical_dir(previous_name).is_dir()
        if not full and not changed and not removed and not extras_missing:
            report.unchanged = len(unchanged)
            report.skipped = [{"source": s, "reason": r} for s, r in previous.skipped]
            report.chunks = previous.chunk_total
            return report

        generation = catalog.next_generation()
        self._discard_unfinished(keep=previous_name)
        location = catalog.location(generation)
        new_store = store.ChunkStore(location, self._embeddings, create=True)
        documents: dict[str, DocumentRecord] = {}

        if unchanged:
            old_store = store.ChunkStore(catalog.location(previous_name), self._embeddings, create=False)
            new_store.copy_sources(old_store, set(unchanged))
            old_store.close()
            for doc_id in unchanged:
                catalog.carry_text(previous_name, generation, previous_docs[doc_id])
                documents[doc_id] = previous_docs[doc_id]

        chunks, skipped = self._load_and_chunk([sources[i] for i in changed], generation, documents)
        self._embed(new_store, chunks, progress)
        new_store.close()

        manifest = Manifest(
            generation=generation,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            fingerprint=wanted_fingerprint,
            documents=dict(sorted(documents.items())),
            skipped=tuple(skipped),
        )
        catalog.write_manifest(manifest)
        self._write_extras(generation, manifest)
        catalog.switch_to(generation)
        self._discard_old(generation)

        report.generation = generation
        report.changed = True
        report.unchanged = len(unchanged)
        report.added = sum(1 for i in changed if i in documents and i not in previous_docs)
        report.updated = sum(1 for i in changed if i in documents and i in previous_docs)
        # A document that became unreadable leaves the index: it counts as skipped and removed.
        report.removed = len(removed) + sum(1 for i in changed if i in previous_docs and i not in documents)
        report.skipped = [{"source": s, "reason": r} for s, r in skipped]
        report.chunks = manifest.chunk_total
        report.embedded = len(chunks)
        return report

    def _load_and_chunk(
        self, sources: list[SourceFile], generation: str, documents: dict[str, DocumentRecord]
    ) -> tuple[list[Chunk], list[tuple[str, str]]]:
        chunks: list[Chunk] = []
        skipped: list[tuple[str, str]] = []
        for source in sources:
            try:
                document = load_document(source)
            except SourceUnreadable as error:
                logger.warning("Skipped %s", error)
                skipped.append((source.id, str(error).removeprefix(f"{source.id}: ")))
                continue
            document_chunks = self._chunker.split(document)
            chunks.extend(document_chunks)
            documents[document.id] = DocumentRecord(
                id=document.id,
                content_hash=document.content_hash,
                kind=document.kind,
                title=document.title,
                text_file=self._catalog.write_text(generation, document.id, document.text),
                chunks=tuple((c.start, c.end, c.page) for c in document_chunks),
                pages=tuple((p.page, p.start, p.end) for p in document.pages),
            )
        return chunks, skipped

    def _embed(self, target: store.ChunkStore, chunks: list[Chunk], progress: Progress | None) -> None:
        # Batches span documents, and chunks of similar length go together so the model pads
        # little: many small files embed as fast as one large one.
        chunks = sorted(chunks, key=lambda chunk: len(chunk.text))
        for begin in range(0, len(chunks), EMBED_BATCH):
            target.add(chunks[begin : begin + EMBED_BATCH])
            if progress:
                progress(min(begin + EMBED_BATCH, len(chunks)), len(chunks))

    def _write_extras(self, generation: str, manifest: Manifest) -> None:
        """BM25 over exactly this generation's chunks and documents, so keyword and vector search agree."""
        ids, texts, document_texts = [], [], []
        for document in manifest.documents.values():
            text = self._catalog.read_text(generation, document)
            document_texts.append(text)
            for record in document.chunk_records():
                ids.append(record.id)
                texts.append(text[record.start : record.end])
        LexicalIndex.build(ids, texts).save(self._catalog.lexical_dir(generation))
        documents = LexicalIndex.build(list(manifest.documents), document_texts, k1=DOCUMENT_BM25_K1)
        documents.save(self._catalog.document_lexical_dir(generation))

    def _discard_unfinished(self, keep: str | None) -> None:
        """Generations newer than the serving one are leftovers of a crashed rebuild."""
        for name in self._catalog.generations():
            if keep is None or name > keep:
                self._drop(name)

    def _discard_old(self, current: str) -> None:
        names = [n for n in self._catalog.generations() if n <= current]
        for name in names[:-KEEP_GENERATIONS]:
            self._drop(name)

    def _drop(self, generation: str) -> None:
        logger.info("Removing index generation %s", generation)
        store.drop(self._catalog.location(generation))
        self._catalog.remove_generation_files(generation)
