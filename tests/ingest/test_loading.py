import os
from pathlib import Path

import pytest

from assistant.errors import SourcesMissing, SourceUnreadable
from assistant.ingest.loading import load_document, scan_sources


def _load(sources: Path, name: str):
    source = next(s for s in scan_sources(sources).files if s.id == name)
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
    (tmp_path / "ignored.xlsx").write_text("not a supported type")
    (tmp_path / ".hidden.txt").write_text("hidden files are not sources")
    assert [s.id for s in scan_sources(tmp_path).files] == ["deep/er/notes.md"]


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
    scan = scan_sources(sources)
    assert [s.id for s in scan.files] == ["real.txt"]
    assert [(item[0], "outside" in item[1]) for item in scan.refused] == [("link.txt", True)]


def test_a_file_swapped_for_a_symlink_after_the_scan_is_not_read(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("password=hunter2")
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "notes.txt").write_text("Harmless notes.")
    (source,) = scan_sources(sources).files
    # Between the scan and the read, the file becomes a link to a file outside sources/.
    (sources / "notes.txt").unlink()
    (sources / "notes.txt").symlink_to(outside)
    with pytest.raises(SourceUnreadable, match="outside"):
        load_document(source)
    # A directory on the way swapped for a link outside is caught on the opened file too.
    (sources / "sub").mkdir()
    (sources / "sub" / "a.txt").write_text("Inside.")
    (inner,) = [s for s in scan_sources(sources).files if s.id == "sub/a.txt"]
    (sources / "sub" / "a.txt").unlink()
    (sources / "sub").rmdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "a.txt").write_text("password=hunter2")
    (sources / "sub").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(SourceUnreadable, match="outside"):
        load_document(inner)


def test_symlinks_inside_sources_are_followed(tmp_path):
    (tmp_path / "real.txt").write_text("A real document.")
    (tmp_path / "alias.txt").symlink_to(tmp_path / "real.txt")
    assert [s.id for s in scan_sources(tmp_path).files] == ["alias.txt", "real.txt"]


def test_hard_links_and_oversized_files_are_refused_by_name(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("password=hunter2")
    sources = tmp_path / "sources"
    sources.mkdir()
    os.link(outside, sources / "linked.txt")
    (sources / "big.txt").write_text("x" * 2000)
    (sources / "small.txt").write_text("Small.")
    scan = scan_sources(sources, max_bytes=1000)
    assert [s.id for s in scan.files] == ["small.txt"]
    reasons = dict((item[0], item[1]) for item in scan.refused)
    assert "hard links" in reasons["linked.txt"] and "ASSISTANT_MAX_SOURCE_BYTES" in reasons["big.txt"]


def test_html_inline_elements_stay_inside_their_sentence(tmp_path):
    (tmp_path / "wiki.html").write_text(
        "<html><head><title>Steam</title></head><body><nav><a href='/'>Home</a></nav>"
        "<p>The <a href='/wiki/Watt'>steam engine</a> was <b>improved</b> by <i>James\nWatt</i> in "
        "<b>1776</b>. It used a <span class='x'>separate</span> condenser.</p>"
        "<ul><li>First item</li><li>Second item</li></ul><p>Café owners in Gəncə liked it.</p></body></html>"
    )
    document = _load(tmp_path, "wiki.html")
    assert "The steam engine was improved by James Watt in 1776. It used a separate condenser." in document.text
    assert "Café owners in Gəncə liked it." in document.text
    # Blocks stay apart: paragraphs and list items do not run into each other.
    assert "condenser.\n\n" in document.text
    assert "First item\n" in document.text


def _pdf_lines(path, lines_per_page):
    canvas = pytest.importorskip("reportlab.pdfgen.canvas")
    pdf = canvas.Canvas(str(path))
    for lines in lines_per_page:
        y = 760
        for line in lines:
            if line:
                pdf.drawString(72, y, line)
            y -= 14 if line else 24  # an empty entry is a paragraph gap
        pdf.showPage()
    pdf.save()


def test_pdf_wrapped_and_hyphenated_lines_rejoin_into_sentences(tmp_path):
    _pdf_lines(
        tmp_path / "handbook.pdf",
        [
            [
                "Full-time employees receive 25 days of paid annual leave per",
                "calendar year. Requests longer than ten days need the approv-",
                "al of a manager, and the Head of Human Resources decides on",
                "exceptions.",
                "",
                "Sick leave is reported to the team lead on the first day.",
            ],
            ["continues on the next page without a break. A new sentence starts here."],
        ],
    )
    document = _load(tmp_path, "handbook.pdf")
    text = document.text
    assert "Full-time employees receive 25 days of paid annual leave per calendar year." in text
    assert "the approval of a manager" in text
    assert "exceptions.\n\nSick leave" in text
    assert "on the first day. continues on the next page" not in text
    sentence = "Requests longer than ten days need the approval of a manager"
    assert document.page_at(text.index(sentence)) == 1
    assert document.page_at(text.index("A new sentence")) == 2


def test_pdf_hyphen_before_a_capital_is_kept(tmp_path):
    _pdf_lines(tmp_path / "names.pdf", [["The treaty was signed by Austria-", "Hungary and Prussia in 1866."]])
    assert "Austria-Hungary and Prussia" in _load(tmp_path, "names.pdf").text


def test_documents_left_at_the_top_of_the_sources_root_are_pointed_to_their_folder(tmp_path):
    (tmp_path / "handbook.md").write_text("# Handbook")
    with pytest.raises(SourcesMissing, match="move those in .* into .*/default/"):
        scan_sources(tmp_path / "default")
