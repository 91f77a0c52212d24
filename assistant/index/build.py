"""Rebuild: diff sources by content hash, embed only what changed, write a generation, switch."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.analysis import sentences
from assistant.analysis.chunking import Chunk, Chunker
from assistant.analysis.sentences import DocumentSentences
from assistant.errors import IndexCorrupt, SourceUnreadable
from assistant.index import store
from assistant.index.catalog import Catalog, DocumentRecord, Manifest
from assistant.index.embeddings import vector_identity
from assistant.index.lexical import LexicalIndex
from assistant.ingest.loading import SourceDocument, SourceFile, load_document, scan_sources
from assistant.settings import Settings

logger = logging.getLogger(__name__)

# Bumped when loading, chunking or sentence splitting changes what a document becomes: every
# document is then parsed and embedded again. 2: syntok sentences, HTML inline text, PDF lines.
PIPELINE_VERSION = 2
EMBED_BATCH = 256
KEEP_GENERATIONS = 3  # the new one plus two that servers may still be finishing requests on
# Whole documents saturate sooner than chunks: a document that names most of the query's terms
# beats one that repeats a few (SciFact nDCG@10 0.7496 -> 0.7521 with k1 0.8 instead of 1.5).
DOCUMENT_BM25_K1 = 0.8
CHUNK_BM25_K1 = 1.5

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
    sentences: int = 0  # sentences embedded this run, for answer selection
    seconds: float = 0.0
    generation: str | None = None
    full: bool = False
    changed: bool = False

    def to_json(self) -> dict:
        return asdict(self)


def fingerprint(settings: Settings) -> dict:
    """What the index depends on. A change of "lexical" rewrites the BM25 side indexes only;
    a change of anything else re-embeds every document."""
    return {
        "embedding_model": vector_identity(settings.embedding_model_path, settings.embedding_backend),
        "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap_tokens": settings.chunk_overlap_tokens,
        "pipeline_version": PIPELINE_VERSION,
        "lexical": {"chunk_k1": CHUNK_BM25_K1, "document_k1": DOCUMENT_BM25_K1},
    }


def _vector_part(print_: dict) -> dict:
    return {key: value for key, value in print_.items() if key != "lexical"}


def _with_metadata(document: DocumentRecord, metadata: dict) -> DocumentRecord:
    return document if document.metadata == metadata else replace(document, metadata=metadata)


def _same_content(record: DocumentRecord, source: SourceFile) -> bool:
    """Nothing to parse or embed again: same bytes, and the same title given (titles are indexed)."""
    return record.content_hash == source.content_hash and record.metadata.get("title") == source.metadata.get("title")


def _same_file(source: SourceFile | None, content_hash: str) -> bool:
    return source is not None and source.content_hash == content_hash


class _Progress:
    """Counts texts embedded (chunks, then sentences) for a progress callback."""

    def __init__(self, callback: Progress | None, total: int) -> None:
        self._callback = callback
        self._total = total
        self._done = 0

    def advance(self, count: int) -> None:
        self._done += count
        if self._callback:
            self._callback(self._done, self._total)


class Indexer:
    """Builds index generations from a sources directory."""

    def __init__(
        self,
        settings: Settings,
        sources_dir: Path,
        catalog: Catalog,
        embeddings: Embeddings,
        chunker: Chunker,
        on_switch: Callable[[], None] | None = None,
    ) -> None:
        self._settings = settings
        self._sources_dir = sources_dir
        self._catalog = catalog
        self._embeddings = embeddings
        self._chunker = chunker
        self._on_switch = on_switch  # told once the pointer has moved to a new generation

    def rebuild(
        self, progress: Progress | None = None, wait_for_lock: bool = False, files: Progress | None = None
    ) -> RebuildReport:
        """`progress` is told texts embedded out of the total, `files` files parsed out of those changed."""
        started = time.perf_counter()
        with self._catalog.rebuild_lock(wait=wait_for_lock):
            report = self._rebuild_locked(progress, files)
        report.seconds = round(time.perf_counter() - started, 3)
        return report

    def _rebuild_locked(self, progress: Progress | None, files: Progress | None) -> RebuildReport:
        catalog = self._catalog
        wanted_fingerprint = fingerprint(self._settings)
        scan = scan_sources(self._sources_dir, self._settings.max_source_bytes)
        sources = {source.id: source for source in scan.files}
        previous_name, previous = self._previous()
        full = previous is None or _vector_part(previous.fingerprint) != _vector_part(wanted_fingerprint)
        previous_docs = previous.documents if previous else {}
        # After a settings change no old vector can be reused: every document is "changed".
        reusable = {} if full else previous_docs
        # A file that could not be parsed last time and has not changed since stays skipped;
        # files the scan refused (outside links, too large) are skipped by name every time.
        still_skipped = [
            item for item in (previous.skipped if not full else ()) if _same_file(sources.get(item[0]), item[2])
        ]
        skipped_ids = {s[0] for s in still_skipped}

        unchanged = [i for i, s in sources.items() if i in reusable and _same_content(reusable[i], s)]
        changed = [
            i
            for i in sources
            if i not in skipped_ids and not (i in reusable and _same_content(reusable[i], sources[i]))
        ]
        removed = [i for i in previous_docs if i not in sources]
        # Same content, new metadata (tags, title): the vectors are kept, the record is updated.
        retagged = {i for i in unchanged if previous_docs[i].metadata != sources[i].metadata}
        report = RebuildReport(full=full, generation=previous_name)

        # Side indexes built with other parameters (or by a release without them) are rewritten;
        # the vectors are copied, not re-embedded.
        extras_stale = previous is not None and (
            previous.fingerprint.get("lexical") != wanted_fingerprint["lexical"]
            or not catalog.document_lexical_dir(previous_name).is_dir()
        )
        same_skips = previous is not None and sorted(scan.refused + still_skipped) == sorted(previous.skipped)
        if not full and not changed and not removed and not retagged and not extras_stale and same_skips:
            report.unchanged = len(unchanged)
            report.skipped = [{"source": s, "reason": r} for s, r, _ in previous.skipped]
            report.chunks = previous.chunk_total
            return report

        generation = catalog.next_generation()
        # With an unreadable pointer, no generation is known to be unfinished: servers may still
        # be answering from any of them, so none is dropped here.
        self._discard_unfinished(keep=previous_name or max(catalog.generations(), default=None))
        location = catalog.location(generation)
        documents: dict[str, DocumentRecord] = {}
        # Every Chroma client opened here is closed whatever fails, before the half-built
        # generation is discarded by a later rebuild.
        with closing(store.ChunkStore(location, self._embeddings, create=True)) as new_store:
            if unchanged:
                with closing(
                    store.ChunkStore(catalog.location(previous_name), self._embeddings, create=False)
                ) as old_store:
                    new_store.copy_sources(old_store, set(unchanged))
                for doc_id in unchanged:
                    catalog.carry_document(previous_name, generation, previous_docs[doc_id])
                    documents[doc_id] = _with_metadata(previous_docs[doc_id], sources[doc_id].metadata)

            loaded, skipped = self._load([sources[i] for i in changed], files)
            skipped = sorted(scan.refused + still_skipped + skipped)
            chunks = [chunk for document in loaded for chunk in self._chunker.split(document)]
            split = [sentences.split(document.text) for document in loaded]
            sentence_texts = [doc.text[s:e] for doc, (spans, _) in zip(loaded, split, strict=True) for s, e in spans]
            counter = _Progress(progress, len(chunks) + len(sentence_texts))
            self._embed(new_store, chunks, counter)
        vectors = self._embed_sentences(sentence_texts, counter)
        self._write_documents(loaded, chunks, split, vectors, generation, documents)

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
        if self._on_switch is not None:
            self._on_switch()
        self._discard_old(generation)

        report.generation = generation
        report.changed = True
        report.unchanged = len(unchanged) - len(retagged)
        report.added = sum(1 for i in changed if i in documents and i not in previous_docs)
        report.updated = sum(1 for i in changed if i in documents and i in previous_docs) + len(retagged)
        # A document that became unreadable leaves the index: it counts as skipped and removed.
        report.removed = len(removed) + sum(1 for i in changed if i in previous_docs and i not in documents)
        report.skipped = [{"source": s, "reason": r} for s, r, _ in skipped]
        report.chunks = manifest.chunk_total
        report.embedded = len(chunks)
        report.sentences = len(sentence_texts)
        return report

    def _previous(self) -> tuple[str | None, Manifest | None]:
        """The serving generation and its manifest; (None, None) when there is none or it is
        unreadable, in which case this rebuild starts over from the sources and repairs it."""
        try:
            name = self._catalog.current_generation()
            return name, self._catalog.read_manifest(name) if name else None
        except IndexCorrupt as error:
            logger.warning("%s; rebuilding everything", error)
            return None, None

    def _load(
        self, sources: list[SourceFile], files: Progress | None
    ) -> tuple[list[SourceDocument], list[tuple[str, str, str]]]:
        loaded: list[SourceDocument] = []
        skipped: list[tuple[str, str, str]] = []
        for done, source in enumerate(sources, start=1):
            try:
                settings = self._settings
                loaded.append(
                    load_document(
                        source,
                        ocr=settings.ocr,
                        max_parse_seconds=settings.max_parse_seconds,
                        max_chars=settings.max_document_chars,
                    )
                )
            except SourceUnreadable as error:
                logger.warning("Skipped %s", error)
                skipped.append((source.id, str(error).removeprefix(f"{source.id}: "), source.content_hash))
            if files is not None:
                files(done, len(sources))
        return loaded, skipped

    def _write_documents(
        self,
        loaded: list[SourceDocument],
        chunks: list[Chunk],
        split: list[tuple[np.ndarray, dict[str, int]]],
        vectors: np.ndarray,
        generation: str,
        documents: dict[str, DocumentRecord],
    ) -> None:
        """Each document's text, chunk table and sentences into the generation."""
        by_source: dict[str, list[Chunk]] = {}
        for chunk in chunks:
            by_source.setdefault(chunk.source, []).append(chunk)
        row = 0
        for document, (spans, term_counts) in zip(loaded, split, strict=True):
            record = DocumentRecord(
                id=document.id,
                content_hash=document.content_hash,
                kind=document.kind,
                title=document.title,
                text_file=self._catalog.write_text(generation, document.id, document.text),
                chunks=tuple((c.start, c.end, c.page) for c in by_source.get(document.id, [])),
                pages=tuple((p.page, p.start, p.end) for p in document.pages),
                metadata=document.metadata,
            )
            own = DocumentSentences(spans, vectors[row : row + len(spans)], term_counts)
            sentences.save(self._catalog.sentences_dir(generation), record.stem, own)
            row += len(spans)
            documents[document.id] = record

    def _embed(self, target: store.ChunkStore, chunks: list[Chunk], progress: _Progress) -> None:
        # Batches span documents, and chunks of similar length go together so the model pads
        # little: many small files embed as fast as one large one.
        chunks = sorted(chunks, key=lambda chunk: len(chunk.text))
        for begin in range(0, len(chunks), EMBED_BATCH):
            batch = chunks[begin : begin + EMBED_BATCH]
            target.add(batch)
            progress.advance(len(batch))

    def _embed_sentences(self, texts: list[str], progress: _Progress) -> np.ndarray:
        """Unit vectors (float16) in the input order, embedded in batches of similar length."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: np.ndarray | None = None
        for begin in range(0, len(order), EMBED_BATCH):
            batch = order[begin : begin + EMBED_BATCH]
            computed = np.asarray(self._embeddings.embed_documents([texts[i] for i in batch]), dtype=np.float16)
            if vectors is None:
                vectors = np.zeros((len(texts), computed.shape[1]), dtype=np.float16)
            vectors[batch] = computed
            progress.advance(len(batch))
        return vectors if vectors is not None else np.zeros((0, 0), dtype=np.float16)

    def _write_extras(self, generation: str, manifest: Manifest) -> None:
        """BM25 over exactly this generation's chunks and documents, so keyword and vector search agree."""
        ids, texts, document_texts = [], [], []
        for document in manifest.documents.values():
            text = self._catalog.read_text(generation, document)
            document_texts.append(text)
            for record in document.chunk_records():
                ids.append(record.id)
                texts.append(text[record.start : record.end])
        LexicalIndex.build(ids, texts, k1=CHUNK_BM25_K1).save(self._catalog.lexical_dir(generation))
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
