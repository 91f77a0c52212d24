"""Text from a scanned PDF page by OCR: optional (`pip install '.[ocr]'` and Debian's
`tesseract-ocr`), used only with ASSISTANT_OCR=true."""

from __future__ import annotations

import io

from assistant.errors import SourceUnreadable


def page_text(page) -> str:
    """The page's images (a scan is one image a page) read by Tesseract, top to bottom."""
    try:
        import pytesseract
        from PIL import Image
    except ImportError:
        raise SourceUnreadable("no text (scanned?), and OCR is not installed: pip install '.[ocr]'") from None
    texts = []
    for image in page.images:
        with Image.open(io.BytesIO(image.data)) as picture:
            try:
                texts.append(pytesseract.image_to_string(picture).strip())
            except pytesseract.TesseractNotFoundError:
                raise SourceUnreadable(
                    "no text (scanned?), and the tesseract program is missing: apt-get install tesseract-ocr"
                ) from None
    return "\n\n".join(_paragraphs(text) for text in texts if text)


def _paragraphs(text: str) -> str:
    """Tesseract ends every printed line; a paragraph's lines are one run of text, as in a PDF's."""
    blocks = [" ".join(line.strip() for line in block.splitlines() if line.strip()) for block in text.split("\n\n")]
    return "\n\n".join(block for block in blocks if block)
