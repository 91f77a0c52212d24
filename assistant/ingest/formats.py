"""File bytes -> text, by format: plain text, HTML, PDF, Word, PowerPoint, CSV and EPUB.

Each reader returns the text exactly as it will be indexed and cited, its title, where its
pages (PDF pages, slides) lie in it, and, for tables of records (CSV), the passages that must
not be merged. Citation offsets are offsets into this text, whatever the format.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from assistant.errors import SourceUnreadable
from assistant.ingest import pdf_layout

# Office files and EPUBs are ZIP archives: one that expands past this is refused unread
# (a "zip bomb" is a few KB that inflate to gigabytes).
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class PageSpan:
    """Where one PDF page (or slide) lies in the document's text."""

    page: int
    start: int
    end: int


@dataclass(frozen=True)
class Parsed:
    text: str
    title: str
    pages: tuple[PageSpan, ...] = ()
    # Spans that are passages on their own (CSV rows): chunks never cross them.
    segments: tuple[tuple[int, int], ...] = ()


SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx", ".pptx", ".csv", ".epub")


def parse(suffix: str, data: bytes, ocr: bool = False) -> Parsed:
    if suffix == ".pdf":
        return read_pdf(data, ocr)
    if suffix in (".html", ".htm"):
        return read_html(data)
    if suffix == ".docx":
        return read_docx(data)
    if suffix == ".pptx":
        return read_pptx(data)
    if suffix == ".epub":
        return read_epub(data)
    if suffix == ".csv":
        return read_csv(data)
    text = data.decode("utf-8")
    return Parsed(text, markdown_title(text) if suffix in (".md", ".markdown") else first_line(text))


_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.M)
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"[*_`]+")


def markdown_title(text: str) -> str:
    """A Markdown document's title: its first heading without markup (not a row of badges)."""
    for match in _MD_HEADING.finditer(text):
        title = _MD_EMPHASIS.sub("", _MD_LINK.sub(r"\1", _MD_IMAGE.sub("", match.group(1)))).strip()
        if title:
            return title[:200]
    for line in text.splitlines():
        plain = _MD_EMPHASIS.sub("", _MD_LINK.sub(r"\1", _MD_IMAGE.sub("", line))).strip()
        if plain:
            return plain.lstrip("#").strip()[:200]
    return ""


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip().lstrip("#").strip()[:200]
    return ""


_BLANK_LINES = re.compile(r"\n{3,}")


def read_html(raw: bytes) -> Parsed:
    """Visible text laid out as a browser would: blocks apart, inline elements (links, bold)
    inside their sentence. inscriptis knows which elements are blocks; scripts and styles go."""
    text, title = _html_text(raw)
    return Parsed(text, title or first_line(text))


def _html_text(raw: bytes) -> tuple[str, str]:
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
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip(), title


def _join_pages(page_texts: list[tuple[int, str]]) -> tuple[str, tuple[PageSpan, ...]]:
    """Pages in order, with a separator a sentence splitter respects, and where each one lies."""
    parts: list[str] = []
    spans: list[PageSpan] = []
    offset = 0
    for number, page_text in page_texts:
        if not page_text:
            continue
        if parts:
            separator = pdf_layout.page_separator(parts[-1], page_text)
            parts.append(separator)
            offset += len(separator)
        spans.append(PageSpan(page=number, start=offset, end=offset + len(page_text)))
        parts.append(page_text)
        offset += len(page_text)
    return "".join(parts), tuple(spans)


def read_pdf(data: bytes, ocr: bool = False) -> Parsed:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    pages = [(number, pdf_layout.page_text(page)) for number, page in enumerate(reader.pages, start=1)]
    if reader.pages and not any(text for _, text in pages):
        if not ocr:
            raise SourceUnreadable(
                "no text (scanned?): its pages hold no text layer; OCR is off (ASSISTANT_OCR, see the README)"
            )
        from assistant.ingest.ocr import page_text

        pages = [(number, page_text(page)) for number, page in enumerate(reader.pages, start=1)]
    text, spans = _join_pages(pages)
    metadata_title = ((reader.metadata.title if reader.metadata else None) or "").strip()
    if metadata_title.lower() in ("untitled", "untitled document"):  # a PDF writer's placeholder
        metadata_title = ""
    return Parsed(text, metadata_title or first_line(text), spans)


def check_archive(data: bytes | BinaryIO) -> zipfile.ZipFile:
    """Open an Office file or EPUB (bytes, or a seekable file) as the ZIP it is, refusing one
    that would expand too far."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes | bytearray) else data)
    except zipfile.BadZipFile:
        raise SourceUnreadable("not a valid ZIP container (Office files and EPUBs are ZIPs)") from None
    declared = sum(info.file_size for info in archive.infolist())
    if declared > MAX_UNZIPPED_BYTES:
        raise SourceUnreadable(
            f"its archive expands to {declared} bytes, over the limit of {MAX_UNZIPPED_BYTES} (a zip bomb?)"
        )
    # A member's header may lie about its size, and ZipExtFile.read(n) inflates a whole member
    # before it cuts: inflate each in bounded pieces, counting what really comes out.
    expanded = 0
    for info in archive.infolist():
        try:
            with archive.open(info) as member:
                while piece := member.read1(_PIECE):
                    expanded += len(piece)
                    if expanded > MAX_UNZIPPED_BYTES:
                        raise SourceUnreadable(
                            f"its archive expands past {MAX_UNZIPPED_BYTES} bytes, more than its headers say "
                            "(a zip bomb?)"
                        )
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as error:
            raise SourceUnreadable(f"a damaged ZIP member {info.filename!a}: {error}") from None
    return archive


_PIECE = 1 << 20


def read_docx(data: bytes) -> Parsed:
    """Paragraphs (headings included) and tables in document order; a table row is a line,
    its cells apart by " | "."""
    import docx
    from docx.table import Table

    check_archive(data)
    document = docx.Document(io.BytesIO(data))
    blocks: list[str] = []
    heading = ""
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            rows = [" | ".join(_unique_cells(row.cells)) for row in item.rows]
            blocks.append("\n".join(row for row in rows if row.strip()))
            continue
        text = item.text.strip()
        if text and not heading and (item.style.name or "").lower().startswith(("heading", "title")):
            heading = text
        blocks.append(text)
    text = "\n\n".join(block for block in blocks if block)
    title = (document.core_properties.title or "").strip() or heading or first_line(text)
    return Parsed(text, title)


def _unique_cells(cells) -> list[str]:
    """A merged cell is reported once per grid column it spans; its text counts once."""
    seen, texts = set(), []
    for cell in cells:
        if id(cell._tc) not in seen:
            seen.add(id(cell._tc))
            texts.append(" ".join(cell.text.split()))
    return texts


def read_pptx(data: bytes) -> Parsed:
    """Each slide's text (text boxes and tables, top to bottom), the slide number kept as a PDF
    page is."""
    from pptx import Presentation

    check_archive(data)
    presentation = Presentation(io.BytesIO(data))
    slides: list[tuple[int, str]] = []
    for number, slide in enumerate(presentation.slides, start=1):
        blocks = []
        for shape in sorted(slide.shapes, key=lambda s: (s.top or 0, s.left or 0)):
            if shape.has_text_frame:
                lines = [" ".join(p.text.split()) for p in shape.text_frame.paragraphs]
                blocks.append("\n".join(line for line in lines if line))
            elif getattr(shape, "has_table", False) and shape.has_table:
                rows = [" | ".join(" ".join(c.text.split()) for c in row.cells) for row in shape.table.rows]
                blocks.append("\n".join(rows))
        slides.append((number, "\n\n".join(block for block in blocks if block)))
    text, spans = _join_pages(slides)
    title = (presentation.core_properties.title or "").strip() or first_line(text)
    return Parsed(text, title, spans)


def read_csv(data: bytes) -> Parsed:
    """One row a passage, each value named by its column ("name: value; ..."), so a passage
    read alone still says what its numbers are."""
    text = data.decode("utf-8-sig")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(cell.strip() for cell in row)]
    if not rows:
        return Parsed("", "")
    header = [" ".join(name.split()) or f"column {i + 1}" for i, name in enumerate(rows[0])]
    lines = []
    for row in rows[1:]:
        named = [
            f"{header[i] if i < len(header) else f'column {i + 1}'}: {' '.join(value.split())}"
            for i, value in enumerate(row)
            if value.strip()
        ]
        lines.append("; ".join(named))
    segments, offset = [], 0
    for line in lines:
        segments.append((offset, offset + len(line)))
        offset += len(line) + 1
    return Parsed("\n".join(lines), "", segments=tuple(segments))  # titled by its file name


def read_epub(data: bytes) -> Parsed:
    """The book's chapters in reading order (the spine), each read as HTML."""
    import ebooklib
    from ebooklib import epub

    check_archive(data)
    book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": True})
    chapters = []
    for item_id, _ in book.spine:
        item = book.get_item_with_id(item_id)
        if item is not None and item.get_type() == ebooklib.ITEM_DOCUMENT:
            chapter, _ = _html_text(item.get_content())
            if chapter:
                chapters.append(chapter)
    text = "\n\n".join(chapters)
    titles = book.get_metadata("DC", "title")
    title = (titles[0][0] if titles else "").strip()
    return Parsed(text, title or first_line(text))
