"""Word, PowerPoint, CSV and EPUB documents indexed and cited exactly; scanned PDFs reported."""

from __future__ import annotations

import io
import shutil

import pytest

from tests.office_files import docx_bytes, epub_bytes, pptx_bytes


@pytest.fixture
def office(make_assistant, tmp_path):
    folder = tmp_path / "sources" / "office"
    folder.mkdir(parents=True)
    (folder / "leave.docx").write_bytes(
        docx_bytes(
            "Leave policy",
            ["Staff get 25 days of paid leave a year.", "Unused leave days expire at the end of March."],
            [["Grade", "Parking spaces"], ["A", "12"], ["B", "30"]],
        )
    )
    (folder / "results.pptx").write_bytes(
        pptx_bytes([("Third quarter", "Revenue grew 12 percent."), ("Outlook", "The Lisbon office opens in May.")])
    )
    (folder / "staff.csv").write_text("name,city,role\nAlice Moreau,Paris,engineer\nBruno Silva,Porto,designer\n")
    (folder / "voyage.epub").write_bytes(
        epub_bytes(
            "The Voyage",
            [
                ("Departure", "The ship Aurora sailed at dawn."),
                ("Arrival", "In June the Aurora reached the port of Cadiz."),
            ],
        )
    )
    assistant = make_assistant(folder)
    report = assistant.indexer().rebuild()
    assert report.skipped == [] and report.added == 4
    return assistant


@pytest.mark.parametrize(
    ("question", "source", "expected"),
    [
        ("When do unused leave days expire?", "leave.docx", "end of March"),
        ("When does the Lisbon office open?", "results.pptx", "May"),
        ("Which city does Bruno Silva work in?", "staff.csv", "Porto"),
        ("Which port did the Aurora reach?", "voyage.epub", "Cadiz"),
    ],
)
def test_each_format_is_answered_with_an_exact_citation(office, question, source, expected):
    answer = office.ask_text(question)
    assert not answer.abstained, answer.reason
    texts = office.handle.current().texts
    cited = [c for c in answer.citations if c.source == source]
    assert cited and expected in " ".join(c.text for c in cited)
    for citation in answer.citations:
        assert texts[citation.source][citation.start : citation.end] == citation.text


def test_slides_keep_their_number_and_tables_their_cells(office):
    index = office.handle.current()
    text = index.texts["results.pptx"]
    slides = {page: text[start:end] for page, start, end in index.manifest.documents["results.pptx"].pages}
    assert slides == {1: "Third quarter\n\nRevenue grew 12 percent.", 2: "Outlook\n\nThe Lisbon office opens in May."}
    assert "A | 12" in index.texts["leave.docx"]  # a table row, its cells apart
    assert index.manifest.documents["leave.docx"].title == "Leave policy"


def test_a_csv_row_is_one_passage_that_names_its_columns(office):
    index = office.handle.current()
    rows = [index.passage(cid, 0).text for cid, c in index.chunks.items() if c.source == "staff.csv"]
    assert rows == ["name: Alice Moreau; city: Paris; role: engineer", "name: Bruno Silva; city: Porto; role: designer"]


def test_a_scanned_pdf_is_reported_as_having_no_text(make_assistant, tmp_path):
    canvas = pytest.importorskip("reportlab.pdfgen.canvas")
    from PIL import Image
    from reportlab.lib.utils import ImageReader

    folder = tmp_path / "sources" / "scans"
    folder.mkdir(parents=True)
    picture = io.BytesIO()
    Image.new("RGB", (200, 100), "white").save(picture, format="PNG")
    pdf = canvas.Canvas(str(folder / "scan.pdf"))
    pdf.drawImage(ImageReader(io.BytesIO(picture.getvalue())), 72, 600, width=200, height=100)
    pdf.save()
    (folder / "note.txt").write_text("The scanner is on the second floor.")
    report = make_assistant(folder).indexer().rebuild()
    assert [s["source"] for s in report.skipped] == ["scan.pdf"]
    assert report.skipped[0]["reason"].startswith("no text (scanned?)")


def _scanned_pdf(path, lines: list[str]) -> None:
    """A PDF whose only content is a picture of text, as a scanner writes it."""
    from PIL import Image, ImageDraw, ImageFont
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    picture = Image.new("RGB", (1600, 120 * len(lines) + 60), "white")
    draw = ImageDraw.Draw(picture)
    for row, line in enumerate(lines):
        draw.text((40, 40 + 60 * row), line, fill="black", font=ImageFont.load_default(size=48))
    png = io.BytesIO()
    picture.save(png, format="PNG")
    pdf = canvas.Canvas(str(path))
    pdf.drawImage(ImageReader(io.BytesIO(png.getvalue())), 36, 500, width=540, height=540 * picture.height / 1600)
    pdf.save()


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr is not installed (make test installs it)")
def test_with_ocr_on_a_scanned_pdf_is_read_and_cited(make_assistant, tmp_path):
    pytest.importorskip("pytesseract")
    folder = tmp_path / "sources" / "scans"
    folder.mkdir(parents=True)
    _scanned_pdf(folder / "scan.pdf", ["The boiler room key hangs", "behind the blue door."])
    assistant = make_assistant(folder, ocr=True)
    assert assistant.indexer().rebuild().skipped == []
    answer = assistant.ask_text("Where does the boiler room key hang?")
    assert not answer.abstained and "blue door" in answer.citations[0].text
    assert answer.citations[0].page == 1


def test_a_markdown_title_is_its_first_heading_without_markup():
    from assistant.ingest.formats import parse

    text = "[![Build Status](https://ci.example/badge.svg)](https://ci.example)\n\n# The **Orchard** [guide](https://x)\n\nText."
    assert parse(".md", text.encode()).title == "The Orchard guide"
