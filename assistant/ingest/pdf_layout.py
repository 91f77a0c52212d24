"""A PDF page's text as paragraphs: wrapped lines rejoined, hyphenated line ends mended.

A PDF stores lines where the typesetter broke them, not sentences. pypdf reports each piece of
text with its position; lines are rebuilt from those, and a line joins the one before it unless
something says a paragraph ended there: a larger vertical gap than the page's usual line
spacing, a change of font size (a heading), a jump back up (a new column), or a short line that
ends a sentence.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

# A gap this much wider than the page's usual line spacing separates paragraphs.
PARAGRAPH_GAP = 1.3
# A line shorter than this share of the page's longest lines, ending a sentence, ends a paragraph.
SHORT_LINE = 0.7
_SENTENCE_END = re.compile(r"[.!?:;][\"'”’)\]]*$")
_SOFT_HYPHEN_END = re.compile(r"(?<=[^\W\d_])[-\u00ad]$")


@dataclass
class Line:
    text: str
    y: float
    size: float


def page_text(page) -> str:
    """The page's text with paragraphs separated by a blank line and lines joined inside them."""
    lines = _lines(page)
    if not lines:
        return ""
    return _join(lines)


def page_separator(before: str, after: str) -> str:
    """What goes between two pages' texts: a space where a sentence runs on, else a paragraph break."""
    runs_on = not _SENTENCE_END.search(before.rstrip()) and after[:1].islower()
    return " " if runs_on else "\n\n"


def _lines(page) -> list[Line]:
    """Lines of text with their baseline height, from pypdf's positioned text pieces."""
    lines: list[Line] = []
    current: list[str] = []
    state = {"y": None, "size": 0.0}

    def close() -> None:
        text = " ".join("".join(current).split())
        if text:
            lines.append(Line(text, state["y"] if state["y"] is not None else 0.0, state["size"]))
        current.clear()
        state["y"], state["size"] = None, 0.0

    def visit(text: str, cm, tm, font_dict, font_size) -> None:
        if not text:
            return
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        size = abs(font_size * (tm[3] or 1.0) * (cm[3] or 1.0)) or font_size
        if state["y"] is not None and current and abs(y - state["y"]) > max(size, 1.0) / 2:
            close()
        for piece_index, piece in enumerate(text.split("\n")):
            if piece_index:
                close()
            if piece:
                if state["y"] is None:
                    state["y"] = y
                state["size"] = max(state["size"], size)
                current.append(piece)

    plain = page.extract_text(visitor_text=visit) or ""
    close()
    if not lines and plain.strip():
        # No positions reported: keep pypdf's own lines, joined by the short-line rule alone.
        lines = [Line(" ".join(t.split()), -float(i), 0.0) for i, t in enumerate(plain.splitlines()) if t.strip()]
    return lines


def _join(lines: list[Line]) -> str:
    gaps = [before.y - after.y for before, after in zip(lines, lines[1:], strict=False)]
    usual = [g for g, line in zip(gaps, lines[1:], strict=True) if 0 < g < 3 * max(line.size, 1.0)]
    spacing = statistics.median(usual) if usual else None
    longest = sorted(len(line.text) for line in lines)[int(0.9 * (len(lines) - 1))]

    paragraphs: list[str] = [lines[0].text]
    for before, line, gap in zip(lines[:-1], lines[1:], gaps, strict=True):
        new_paragraph = (
            gap < 0
            or (spacing is not None and gap > PARAGRAPH_GAP * spacing)
            or abs(line.size - before.size) > 0.5
            or (len(before.text) < SHORT_LINE * longest and bool(_SENTENCE_END.search(before.text)))
        )
        if new_paragraph:
            paragraphs.append(line.text)
        elif _SOFT_HYPHEN_END.search(paragraphs[-1]):
            # "exam-" + "ple" is a word the typesetter hyphenated; "Austria-" + "Hungary" keeps its hyphen.
            kept = paragraphs[-1][:-1] if line.text[:1].islower() else paragraphs[-1]
            paragraphs[-1] = kept + line.text
        else:
            paragraphs[-1] += " " + line.text
    return "\n\n".join(paragraphs)
