"""A file in sources/ -> SourceDocument: id (path relative to sources/), text, content hash."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import SourcesMissing, SourceUnreadable
from assistant.ingest import formats, parse_budget
from assistant.ingest.formats import PageSpan

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = formats.SUFFIXES
# A 50 MB text file is about 200,000 chunks: over an hour of embedding on two cores, holding
# the rebuild lock. Larger files are refused by name (ASSISTANT_MAX_SOURCE_BYTES).
DEFAULT_MAX_SOURCE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class SourceFile:
    """A candidate document found on disk, before it is parsed."""

    id: str
    path: Path
    content_hash: str
    root: Path  # the resolved sources directory it must stay inside
    max_bytes: int = DEFAULT_MAX_SOURCE_BYTES
    metadata: dict[str, str | list[str]] = field(default_factory=dict)  # given at upload (tags, title, ...)


@dataclass(frozen=True)
class SourceDocument:
    id: str
    text: str
    content_hash: str
    kind: str
    title: str
    pages: tuple[PageSpan, ...] = field(default=())
    segments: tuple[tuple[int, int], ...] = field(default=())  # passages of their own (CSV rows)
    metadata: dict[str, str | list[str]] = field(default_factory=dict)

    def page_at(self, offset: int) -> int | None:
        """The 1-based page holding `offset`, for PDFs; None for other kinds."""
        for span in self.pages:
            if span.start <= offset < span.end:
                return span.page
        return self.pages[-1].page if self.pages else None


def read_source(path: Path, root: Path, max_bytes: int) -> bytes:
    """A source file's bytes, read through one descriptor that is checked after opening.

    Checking a path and then opening it by name leaves a gap in which the file can be swapped
    for a symlink to /etc/passwd; here the opened file itself is checked: a regular file, inside
    `root` however it was reached, with no other hard link (one could live anywhere), and not
    larger than `max_bytes`.
    """
    target = path
    if path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(root):
            raise SourceUnreadable("it points outside the sources directory")
    try:
        descriptor = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        raise SourceUnreadable(f"cannot be opened safely ({error.strerror})") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise SourceUnreadable("not a regular file")
        if not _opened_path(descriptor, target).is_relative_to(root):
            raise SourceUnreadable("it points outside the sources directory")
        if info.st_nlink > 1:
            raise SourceUnreadable("it has other hard links, which may lie outside the sources directory; copy it in")
        if info.st_size > max_bytes:
            raise SourceUnreadable(f"{info.st_size} bytes, over the limit of {max_bytes} (ASSISTANT_MAX_SOURCE_BYTES)")
        with os.fdopen(os.dup(descriptor), "rb") as handle:
            data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise SourceUnreadable(f"over the limit of {max_bytes} bytes (ASSISTANT_MAX_SOURCE_BYTES)")
        return data
    finally:
        os.close(descriptor)


def _opened_path(descriptor: int, fallback: Path) -> Path:
    """Where the opened file really is (Linux knows; elsewhere, its resolved name)."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{descriptor}"))
    except OSError:
        return fallback.resolve()


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Scan:
    """What a sources directory holds: files to index, and files refused, with the reason."""

    files: list[SourceFile]
    refused: list[tuple[str, str, str]]  # (id, reason, content hash or "")


def scan_sources(sources_dir: Path, max_bytes: int = DEFAULT_MAX_SOURCE_BYTES) -> Scan:
    """Every supported file under sources_dir, recursively, sorted by id.

    Paths that lead outside sources_dir (symlinks included) are never followed: a source tree
    must not be a way to read the rest of the machine. They are refused by name, like files
    that are too large or cannot be read.
    """
    if not sources_dir.is_dir():
        raise SourcesMissing(f"Sources directory {sources_dir} does not exist.{_layout_hint(sources_dir)}")
    root = sources_dir.resolve()
    found, refused = [], []
    for doc_id, path in candidate_files(sources_dir):
        try:
            digest = content_hash(read_source(path, root, max_bytes))
        except SourceUnreadable as error:
            logger.warning("Skipping %s: %s", doc_id, error)
            refused.append((doc_id, str(error), ""))
            continue
        metadata = read_metadata(sources_dir, doc_id)
        found.append(SourceFile(doc_id, path, digest, root=root, max_bytes=max_bytes, metadata=metadata))
    return Scan(found, refused)


def candidate_files(sources_dir: Path) -> list[tuple[str, Path]]:
    """(document id, path) of every file with a supported suffix, sorted, nothing read yet.
    Hidden parts are skipped: that is where uploads wait and metadata lives."""
    found = []
    for path in sorted(sources_dir.rglob("*")):
        relative = path.relative_to(sources_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.suffix.lower() in SUPPORTED_SUFFIXES and (path.is_file() or path.is_symlink()):
            found.append((relative.as_posix(), path))
    return found


# Metadata given at upload lives beside the sources, in a hidden folder the scan does not index:
# sources/<collection>/.metadata/<document id>.json. The index stays rebuildable from sources/.
METADATA_DIR = ".metadata"
MAX_METADATA_BYTES = 65536


def metadata_path(sources_dir: Path, doc_id: str) -> Path:
    return sources_dir / METADATA_DIR / f"{doc_id}.json"


def read_metadata(sources_dir: Path, doc_id: str) -> dict[str, str | list[str]]:
    """A document's metadata; {} when there is none or it is unreadable (said in the log)."""
    path = metadata_path(sources_dir, doc_id)
    if not path.is_file() or path.is_symlink():
        return {}
    try:
        raw = path.read_bytes()[:MAX_METADATA_BYTES]
        return valid_metadata(json.loads(raw))
    except (OSError, ValueError) as error:
        logger.warning("Ignoring the metadata of %s: %s", doc_id, error)
        return {}


def valid_metadata(data: object) -> dict[str, str | list[str]]:
    """Metadata is an object of string fields; `tags` (or any field) may be a list of strings."""
    if not isinstance(data, dict):
        raise ValueError("metadata must be a JSON object")
    for key, value in data.items():
        texts = [key, *(value if isinstance(value, list) else [value])]
        if not all(valid_unicode(text) for text in texts if isinstance(text, str)):
            raise ValueError(f"metadata field {key!a}: not valid Unicode (a lone surrogate)")
        if not isinstance(key, str) or not key or len(key) > 100:
            raise ValueError(f"metadata field names must be 1-100 characters, got {key!r}")
        if key in ("source", "kind"):
            raise ValueError(f"metadata field {key!r} is set by the server")
        if isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                raise ValueError(f"metadata field {key!r}: a list holds strings only")
        elif not isinstance(value, str):
            raise ValueError(f"metadata field {key!r} must be a string or a list of strings")
    return data


def valid_unicode(text: str) -> bool:
    """False for text holding a lone surrogate ("\\ud800" in JSON): it cannot be stored or sent back."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _layout_hint(collection_dir: Path) -> str:
    """Documents left at the top of the sources root (the layout before collections) are named."""
    root = collection_dir.parent
    if not root.is_dir() or not any(p.suffix.lower() in SUPPORTED_SUFFIXES for p in root.iterdir() if p.is_file()):
        return ""
    return f" Documents now live in a folder per collection: move those in {root}/ into {collection_dir}/."


def load_document(
    source: SourceFile, ocr: bool = False, max_parse_seconds: float = 60.0, max_chars: int = 20_000_000
) -> SourceDocument:
    """Parse one file; raises SourceUnreadable for files that cannot be read or hold no text.

    The bytes are read again, through the same checks as the scan, and the document's hash is
    that of the bytes parsed: a file changed or swapped since the scan is judged as it is now.
    """
    suffix = source.path.suffix.lower()
    try:
        data = read_source(source.path, source.root, source.max_bytes)
        parsed = parse_budget.parse(suffix, data, ocr, max_parse_seconds, max_chars)
    except SourceUnreadable as error:
        raise SourceUnreadable(f"{source.id}: {error}") from None
    except Exception as error:  # noqa: BLE001 - any parser failure means "unreadable", by name
        raise SourceUnreadable(f"{source.id}: {type(error).__name__}: {error}") from error
    text = parsed.text
    if not text.strip():
        raise SourceUnreadable(f"{source.id}: no text")
    return SourceDocument(
        id=source.id,
        text=text,
        content_hash=content_hash(data),
        kind="html" if suffix == ".htm" else suffix.lstrip("."),
        title=str(source.metadata.get("title") or parsed.title or source.id),
        pages=parsed.pages,
        segments=parsed.segments,
        metadata=source.metadata,
    )
