"""A file in sources/ -> SourceDocument: id (path relative to sources/), text, content hash."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from assistant import pdf_layout
from assistant.errors import SourcesMissing, SourceUnreadable

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf")
# A 50 MB text file is about 200,000 chunks: over an hour of embedding on two cores, holding
# the rebuild lock. Larger files are refused by name (ASSISTANT_MAX_SOURCE_BYTES).
DEFAULT_MAX_SOURCE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class PageSpan:
    """Where one PDF page lies in the document's text."""

    page: int
    start: int
    end: int


@dataclass(frozen=True)
class SourceFile:
    """A candidate document found on disk, before it is parsed."""

    id: str
    path: Path
    content_hash: str
    root: Path  # the resolved sources directory it must stay inside
    max_bytes: int = DEFAULT_MAX_SOURCE_BYTES


@dataclass(frozen=True)
class SourceDocument:
    id: str
    text: str
    content_hash: str
    kind: str
    title: str
    pages: tuple[PageSpan, ...] = field(default=())

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
        raise SourcesMissing(f"Sources directory {sources_dir} does not exist.")
    root = sources_dir.resolve()
    found, refused = [], []
    for path in sorted(sources_dir.rglob("*")):
        relative = path.relative_to(sources_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.suffix.lower() not in SUPPORTED_SUFFIXES or not (path.is_file() or path.is_symlink()):
            continue
        try:
            digest = content_hash(read_source(path, root, max_bytes))
        except SourceUnreadable as error:
            logger.warning("Skipping %s: %s", relative, error)
            refused.append((relative.as_posix(), str(error), ""))
            continue
        found.append(SourceFile(id=relative.as_posix(), path=path, content_hash=digest, root=root, max_bytes=max_bytes))
    return Scan(found, refused)


def load_document(source: SourceFile) -> SourceDocument:
    """Parse one file; raises SourceUnreadable for files that cannot be read or hold no text.

    The bytes are read again, through the same checks as the scan, and the document's hash is
    that of the bytes parsed: a file changed or swapped since the scan is judged as it is now.
    """
    suffix = source.path.suffix.lower()
    try:
        data = read_source(source.path, source.root, source.max_bytes)
        if suffix == ".pdf":
            text, title, pages = _read_pdf(data)
        elif suffix in (".html", ".htm"):
            text, title = _read_html(data)
            pages = ()
        else:
            text = data.decode("utf-8")
            title = _first_line(text) or source.id
            pages = ()
    except SourceUnreadable as error:
        raise SourceUnreadable(f"{source.id}: {error}") from None
    except Exception as error:  # noqa: BLE001 - any parser failure means "unreadable", by name
        raise SourceUnreadable(f"{source.id}: {type(error).__name__}: {error}") from error
    if not text.strip():
        raise SourceUnreadable(f"{source.id}: no text")
    return SourceDocument(
        id=source.id,
        text=text,
        content_hash=content_hash(data),
        kind="html" if suffix == ".htm" else suffix.lstrip("."),
        title=title,
        pages=pages,
    )


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip().lstrip("#").strip()[:200]
    return ""


def _read_html(raw: bytes) -> tuple[str, str]:
    """Visible text laid out as a browser would: blocks apart, inline elements (links, bold)
    inside their sentence. inscriptis knows which elements are blocks; scripts and styles go."""
    import lxml.html
    from inscriptis import Inscriptis
    from inscriptis.model.config import ParserConfig

    # Bytes that read as UTF-8 are UTF-8; lxml alone would take a page without a charset as Latin-1.
    try:
        raw.decode("utf-8")
        parser = lxml.html.HTMLParser(encoding="utf-8")
    except UnicodeDecodeError:
        parser = None
    tree = lxml.html.fromstring(raw, parser=parser)
    title = " ".join((tree.findtext(".//title") or "").split())
    for head in tree.xpath("//head"):
        head.drop_tree()
    rendered = Inscriptis(tree, ParserConfig(display_links=False)).get_text()
    lines = [line.rstrip() for line in rendered.splitlines()]
    # One blank line between blocks, so sentence splitting and chunking see paragraphs.
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    return text, title or _first_line(text)


_BLANK_LINES = re.compile(r"\n{3,}")


def _read_pdf(data: bytes) -> tuple[str, str, tuple[PageSpan, ...]]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    parts: list[str] = []
    spans: list[PageSpan] = []
    offset = 0
    for number, page in enumerate(reader.pages, start=1):
        page_text = pdf_layout.page_text(page)
        if not page_text:
            continue
        if parts:
            separator = pdf_layout.page_separator(parts[-1], page_text)
            parts.append(separator)
            offset += len(separator)
        spans.append(PageSpan(page=number, start=offset, end=offset + len(page_text)))
        parts.append(page_text)
        offset += len(page_text)
    text = "".join(parts)
    metadata_title = ((reader.metadata.title if reader.metadata else None) or "").strip()
    if metadata_title.lower() in ("untitled", "untitled document"):  # a PDF writer's placeholder
        metadata_title = ""
    return text, metadata_title or _first_line(text), tuple(spans)
