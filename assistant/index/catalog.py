"""The index on disk: numbered generations, the pointer to the serving one, manifests and texts.

A rebuild writes a whole new generation, then moves the pointer with one atomic rename, so a
reader sees either the old index or the new one, never half of each, and a crash mid-rebuild
leaves the old one serving.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from assistant.analysis import sentences
from assistant.errors import IndexCorrupt, IndexNotBuilt, RebuildInProgress
from assistant.index.store import StoreLocation

POINTER = "CURRENT"
LOCK = ".rebuild.lock"
GENERATIONS = "generations"
_GENERATION_NAME = re.compile(r"^g(\d{6})$")


@dataclass(frozen=True)
class ChunkRecord:
    id: str
    source: str
    start: int
    end: int
    page: int | None


@dataclass(frozen=True)
class DocumentRecord:
    id: str
    content_hash: str
    kind: str
    title: str
    text_file: str
    chunks: tuple[tuple[int, int, int | None], ...]
    pages: tuple[tuple[int, int, int], ...] = ()
    metadata: dict = field(default_factory=dict)  # given at upload: tags, title, any string fields

    def to_json(self) -> dict:
        return {
            "metadata": self.metadata,
            "hash": self.content_hash,
            "kind": self.kind,
            "title": self.title,
            "text_file": self.text_file,
            "chunks": [list(span) for span in self.chunks],
            "pages": [list(span) for span in self.pages],
        }

    @classmethod
    def from_json(cls, doc_id: str, data: dict) -> DocumentRecord:
        return cls(
            id=doc_id,
            content_hash=data["hash"],
            kind=data["kind"],
            title=data["title"],
            text_file=data["text_file"],
            chunks=tuple((s, e, p) for s, e, p in data["chunks"]),
            pages=tuple((p, s, e) for p, s, e in data.get("pages", [])),
            metadata=data.get("metadata", {}),
        )

    def fields(self) -> dict[str, str | list[str]]:
        """What a filter can name: its metadata, then path, file type and title (which win)."""
        return {**self.metadata, "source": self.id, "kind": self.kind, "title": self.title}

    @property
    def stem(self) -> str:
        """The name its per-document files share inside a generation (text, sentences)."""
        return self.text_file.removesuffix(".txt")

    def chunk_records(self) -> list[ChunkRecord]:
        return [
            ChunkRecord(id=f"{self.id}#{i}", source=self.id, start=s, end=e, page=p)
            for i, (s, e, p) in enumerate(self.chunks)
        ]


@dataclass(frozen=True)
class Manifest:
    generation: str
    created_at: str
    fingerprint: dict
    documents: dict[str, DocumentRecord]
    # (source, reason, content hash): a file that stays unreadable is not re-read on every rebuild.
    skipped: tuple[tuple[str, str, str], ...] = ()

    def to_json(self) -> dict:
        return {
            "generation": self.generation,
            "created_at": self.created_at,
            "fingerprint": self.fingerprint,
            "documents": {doc_id: doc.to_json() for doc_id, doc in self.documents.items()},
            "skipped": [list(item) for item in self.skipped],
        }

    @classmethod
    def from_json(cls, data: dict) -> Manifest:
        return cls(
            generation=data["generation"],
            created_at=data["created_at"],
            fingerprint=data["fingerprint"],
            documents={k: DocumentRecord.from_json(k, v) for k, v in data["documents"].items()},
            skipped=tuple((item[0], item[1], item[2] if len(item) > 2 else "") for item in data.get("skipped", [])),
        )

    @property
    def chunk_total(self) -> int:
        return sum(len(doc.chunks) for doc in self.documents.values())


class Catalog:
    """Paths and pointer handling for one index directory."""

    def __init__(self, index_dir: Path, chroma_url: str | None, collection_prefix: str) -> None:
        self.index_dir = index_dir
        self.chroma_url = chroma_url
        self.collection_prefix = collection_prefix

    # -- generations -------------------------------------------------------------------
    def generation_dir(self, generation: str) -> Path:
        return self.index_dir / GENERATIONS / generation

    def lexical_dir(self, generation: str) -> Path:
        return self.generation_dir(generation) / "bm25"

    def document_lexical_dir(self, generation: str) -> Path:
        return self.generation_dir(generation) / "bm25-documents"

    def sentences_dir(self, generation: str) -> Path:
        return self.generation_dir(generation) / "sentences"

    def location(self, generation: str) -> StoreLocation:
        return StoreLocation(
            chroma_url=self.chroma_url,
            generation_dir=self.generation_dir(generation),
            collection=f"{self.collection_prefix}-{generation}",
        )

    def generations(self) -> list[str]:
        root = self.index_dir / GENERATIONS
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if _GENERATION_NAME.match(p.name))

    def next_generation(self) -> str:
        existing = [int(_GENERATION_NAME.match(name).group(1)) for name in self.generations()]
        return f"g{max(existing, default=0) + 1:06d}"

    # -- pointer -----------------------------------------------------------------------
    def pointer_path(self) -> Path:
        return self.index_dir / POINTER

    def current_generation(self) -> str | None:
        """The serving generation; None before the first build; IndexCorrupt when unreadable."""
        try:
            raw = self.pointer_path().read_bytes()
        except FileNotFoundError:
            return None
        try:
            generation = json.loads(raw)["generation"]
        except (ValueError, KeyError, TypeError) as error:
            raise IndexCorrupt(f"{self.pointer_path()} is unreadable ({_what(error)}); {REBUILD}") from None
        if not isinstance(generation, str) or not _GENERATION_NAME.match(generation):
            raise IndexCorrupt(f"{self.pointer_path()} names no generation ({generation!r}); {REBUILD}")
        if not self.generation_dir(generation).is_dir():
            raise IndexCorrupt(f"{self.pointer_path()} points at {generation}, which does not exist; {REBUILD}")
        return generation

    def require_current(self) -> str:
        generation = self.current_generation()
        if generation is None:
            raise IndexNotBuilt(self.index_dir)
        return generation

    def pointer_stamp(self) -> tuple[int, int] | None:
        """Cheap change detection for servers: the pointer file's inode and mtime."""
        try:
            stat = self.pointer_path().stat()
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns)

    def switch_to(self, generation: str) -> None:
        _write_atomically(self.pointer_path(), json.dumps({"generation": generation}))

    # -- manifest and texts ------------------------------------------------------------
    def read_manifest(self, generation: str) -> Manifest:
        path = self.generation_dir(generation) / "manifest.json"
        try:
            return Manifest.from_json(json.loads(path.read_bytes()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise IndexCorrupt(f"The manifest of {generation} is unreadable ({_what(error)}); {REBUILD}") from None

    def write_manifest(self, manifest: Manifest) -> None:
        path = self.generation_dir(manifest.generation) / "manifest.json"
        _write_atomically(path, json.dumps(manifest.to_json()))

    def read_text(self, generation: str, document: DocumentRecord) -> str:
        path = self.generation_dir(generation) / "texts" / document.text_file
        return path.read_bytes().decode("utf-8")

    def write_text(self, generation: str, doc_id: str, text: str) -> str:
        name = hashlib.sha1(doc_id.encode()).hexdigest() + ".txt"
        texts = self.generation_dir(generation) / "texts"
        texts.mkdir(parents=True, exist_ok=True)
        (texts / name).write_bytes(text.encode("utf-8"))
        return name

    def carry_document(self, source_generation: str, target_generation: str, document: DocumentRecord) -> None:
        """Bring an unchanged document's text and sentences into a new generation without redoing them."""
        files = [("texts", document.text_file)] + [("sentences", name) for name in sentences.files(document.stem)]
        for folder, name in files:
            target = self.generation_dir(target_generation) / folder
            target.mkdir(parents=True, exist_ok=True)
            source = self.generation_dir(source_generation) / folder / name
            try:
                os.link(source, target / name)
            except OSError:
                shutil.copyfile(source, target / name)

    def remove_generation_files(self, generation: str) -> None:
        shutil.rmtree(self.generation_dir(generation), ignore_errors=True)

    # -- lock --------------------------------------------------------------------------
    @contextmanager
    def rebuild_lock(self, wait: bool = False) -> Iterator[None]:
        """One rebuild at a time per index directory; the OS drops the lock if we die."""
        self.index_dir.mkdir(parents=True, exist_ok=True)
        with open(self.index_dir / LOCK, "a+") as handle:
            flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
            try:
                fcntl.flock(handle, flags)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise RebuildInProgress(
                    f"Another rebuild of {self.index_dir} is running ({holder}); try again when it ends."
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
            try:
                yield
            finally:
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)


REBUILD = "run `assistant index` to rebuild it from the sources"


def _what(error: Exception) -> str:
    return f"missing field {error}" if isinstance(error, KeyError) else f"{type(error).__name__}: {error}"


def _write_atomically(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "w") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
