from pathlib import Path

import pytest

from assistant.errors import SourceUnreadable
from assistant.loading import load_document, scan_sources


def _load(sources: Path, name: str):
    source = next(s for s in scan_sources(sources) if s.id == name)
    return load_document(source)


def test_text_file_is_kept_byte_for_byte(tmp_path):
    raw = "Line one.\r\nLine two — with a dash.\n\n  Indented line.\n"
    (tmp_path / "a.txt").write_bytes(raw.encode("utf-8"))
    document = _load(tmp_path, "a.txt")
    assert document.text == raw
    assert document.title == "Line one."


def test_ids_are_relative_paths_found_recursively(tmp_path):
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "notes.md").write_text("# Notes\n\nSome text.")
    (tmp_path / "ignored.docx").write_text("not a supported type")
    (tmp_path / ".hidden.txt").write_text("hidden files are not sources")
    assert [s.id for s in scan_sources(tmp_path)] == ["deep/er/notes.md"]


def test_html_keeps_visible_text_and_title(tmp_path):
    (tmp_path / "page.html").write_text(
        "<html><head><title>The Page</title><style>p {color: red}</style></head>"
        "<body><script>var secret = 1;</script><h1>Heading</h1><p>Visible paragraph.</p></body></html>"
    )
    document = _load(tmp_path, "page.html")
    assert document.title == "The Page"
    assert "Visible paragraph." in document.text and "Heading" in document.text
    assert "secret" not in document.text and "color" not in document.text


def test_pdf_text_per_page_with_page_numbers(tmp_path):
    canvas = pytest.importorskip("reportlab.pdfgen.canvas")
    pdf = canvas.Canvas(str(tmp_path / "two.pdf"))
    pdf.drawString(72, 720, "The first page talks about apples.")
    pdf.showPage()
    pdf.drawString(72, 720, "The second page talks about pears.")
    pdf.save()
    document = _load(tmp_path, "two.pdf")
    apples = document.text.index("apples")
    pears = document.text.index("pears")
    assert document.page_at(apples) == 1
    assert document.page_at(pears) == 2


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.txt", b""),
        ("blank.md", b"   \n\n  "),
        ("broken.pdf", b"%PDF-1.4 this is not a pdf"),
        ("bad.txt", b"\xff\xfe\xfa"),
    ],
)
def test_unreadable_or_empty_files_raise_with_their_name(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(SourceUnreadable, match=name):
        _load(tmp_path, name)


def test_symlinks_outside_sources_are_not_followed(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("password=hunter2")
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "link.txt").symlink_to(outside)
    (sources / "real.txt").write_text("A real document.")
    assert [s.id for s in scan_sources(sources)] == ["real.txt"]
