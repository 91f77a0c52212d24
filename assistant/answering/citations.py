"""Numbering cited spans as [n] markers, and checking markers against citations."""

from __future__ import annotations

import re

from assistant.answering.types import Citation
from assistant.index.serving import Passage

MARKER = re.compile(r"\[(\d+)\]")


class CitationBook:
    """Hands out marker numbers in order of first use; the same span keeps its number."""

    def __init__(self) -> None:
        self._by_span: dict[tuple[str, int, int], Citation] = {}

    def cite(self, passage: Passage, start: int, end: int, document_text: str) -> int:
        key = (passage.source, start, end)
        citation = self._by_span.get(key)
        if citation is None:
            citation = Citation(
                n=len(self._by_span) + 1,
                source=passage.source,
                chunk_id=passage.chunk_id,
                start=start,
                end=end,
                text=document_text[start:end],
                score=passage.score,
                page=passage.page,
            )
            self._by_span[key] = citation
        return citation.n

    @property
    def citations(self) -> list[Citation]:
        return list(self._by_span.values())


def citation_problems(answer_text: str, citations: list[Citation], texts: dict[str, str]) -> list[str]:
    """Why an answer's citations are not verifiable; empty when every check passes."""
    problems = []
    used = {int(n) for n in MARKER.findall(answer_text)}
    numbers = {c.n for c in citations}
    problems += [f"marker [{n}] has no citation" for n in sorted(used - numbers)]
    problems += [f"citation {n} is never used" for n in sorted(numbers - used)]
    for citation in citations:
        text = texts.get(citation.source)
        if text is None:
            problems.append(f"citation {citation.n}: unknown source {citation.source}")
        elif text[citation.start : citation.end] != citation.text:
            problems.append(
                f"citation {citation.n}: text differs from {citation.source}[{citation.start}:{citation.end}]"
            )
    return problems
