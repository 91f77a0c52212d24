"""A file in sources/ -> SourceDocument: id (path relative to sources/), text, content hash."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import SourcesMissing, SourceUnreadable

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf")


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


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan_sources(sources_dir: Path) -> list[SourceFile]:
    """Every supported file under sources_dir, recursively, sorted by id.

    Paths that resolve outside sources_dir (symlinks included) are never followed: a source
    tree must not be a way to read the rest of the machine.
    """
    if not sources_dir.is_dir():
        raise SourcesMissing(f"Sources directory {sources_dir} does not exist.")
    root = sources_dir.resolve()
    found = []
    for path in sorted(sources_dir.rglob("*")):
        relative = path.relative_to(sources_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.suffix.lower() not in SUPPORTED_SUFFIXES or not path.is_file():
            continue
        if not path.resolve().is_relative_to(root):
            logger.warning("Skipping %s: it points outside %s", relative, sources_dir)
            continue
        try:
            digest = file_hash(path)
        except OSError as error:
            logger.warning("Skipping %s: %s", relative, error)
            continue
        found.append(SourceFile(id=relative.as_posix(), path=path, content_hash=digest))
    return found


def load_document(source: SourceFile) -> SourceDocument:
    """Parse one file; raises SourceUnreadable for files that cannot be read or hold no text."""
    suffix = source.path.suffix.lower()
    try:
        if suffix == ".pdf":
            text, title, pages = _read_pdf(source.path)
        elif suffix in (".html", ".htm"):
            text, title = _read_html(source.path)
            pages = ()
        else:
            text = source.path.read_bytes().decode("utf-8")
            title = _first_line(text) or source.id
            pages = ()
    except SourceUnreadable:
        raise
    except Exception as error:  # noqa: BLE001 - any parser failure means "unreadable", by name
        raise SourceUnreadable(f"{source.id}: {type(error).__name__}: {error}") from error
    if not text.strip():
        raise SourceUnreadable(f"{source.id}: no text")
    return SourceDocument(
        id=source.id,
        text=text,
        content_hash=source.content_hash,
        kind="html" if suffix == ".htm" else suffix.lstrip("."),
        title=title,
        pages=pages,
    )


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip().lstrip("#").strip()[:200]
    return ""


def _read_html(path: Path) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_bytes(), "html.parser")
    for hidden in soup(["script", "style", "noscript", "template"]):
        hidden.decompose()
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else ""
    if title_tag:
        title_tag.decompose()
    body = soup.body or soup
    lines = (line.strip() for line in body.get_text("\n").splitlines())
    # Paragraph breaks as blank lines so the splitter and sentence finder see structure.
    text = "\n\n".join(line for line in lines if line)
    return text, title or _first_line(text)


def _read_pdf(path: Path) -> tuple[str, str, tuple[PageSpan, ...]]:
    from pypdf import PdfReader

    reader = PdfReader(path)
    parts: list[str] = []
    spans: list[PageSpan] = []
    offset = 0
    for number, page in enumerate(reader.pages, start=1):
        page_text = (page.extract_text() or "").strip()
        if not page_text:
            continue
        if parts:
            parts.append("\n\n")
            offset += 2
        spans.append(PageSpan(page=number, start=offset, end=offset + len(page_text)))
        parts.append(page_text)
        offset += len(page_text)
    text = "".join(parts)
    metadata_title = (reader.metadata.title if reader.metadata else None) or ""
    return text, metadata_title.strip() or _first_line(text), tuple(spans)
