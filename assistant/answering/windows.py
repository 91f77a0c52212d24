"""The passage window the reader model reads: a sentence with its neighbours, as one slice.

Training (bench/train_reader.py) and serving (reader.py) cut windows with this one function, so
the model reads at serving time what it learned from.
"""

from __future__ import annotations

from collections.abc import Sequence

# A neighbour contributes at most this many characters next to the centre sentence: enough to
# resolve "it" and "the company", and short enough to keep the window near 100 tokens.
NEIGHBOUR_CHARS = 240


def window(text: str, spans: Sequence[tuple[int, int]], i: int) -> tuple[int, int]:
    """(start, end) of sentence i with the end of the one before and the start of the one after."""
    start, end = spans[i]
    if i > 0:
        start = _word_start(text, max(spans[i - 1][0], start - NEIGHBOUR_CHARS), start)
    if i + 1 < len(spans):
        end = _word_end(text, min(spans[i + 1][1], end + NEIGHBOUR_CHARS), end)
    return start, end


def _word_start(text: str, at: int, floor_limit: int) -> int:
    """The first word start at or after `at` (a cut never splits a word)."""
    if at <= 0 or text[at - 1].isspace():
        return at
    space = text.find(" ", at, floor_limit)
    return floor_limit if space < 0 else space + 1


def _word_end(text: str, at: int, ceiling_limit: int) -> int:
    if at >= len(text) or text[at].isspace():
        return at
    space = text.rfind(" ", ceiling_limit, at)
    return ceiling_limit if space < 0 else space
