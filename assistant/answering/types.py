"""Small result types of answering, independent of HTTP schemas."""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.answering.llm import LLMUsage
from assistant.index.serving import Passage


@dataclass(frozen=True)
class Citation:
    """One `[n]` marker's target: an exact span of a source document."""

    n: int
    source: str
    chunk_id: str
    start: int
    end: int
    text: str
    score: float
    page: int | None = None


@dataclass(frozen=True)
class ShortAnswer:
    """The exact answer inside a cited sentence: `text == source text[start:end]`, inside citation n."""

    text: str
    source: str
    start: int
    end: int
    n: int


@dataclass(frozen=True)
class Answer:
    text: str
    citations: list[Citation]
    abstained: bool
    reason: str | None = None
    # Indexes of answer sentences that no cited passage supports (generative answers).
    unsupported: list[int] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    generation: str | None = None
    # The best candidate's score, kept even when abstaining: it is what calibration looks at.
    confidence: float | None = None
    # Seconds spent retrieving, answering, and inside the answer at the LLM (metrics, logs).
    timings: dict[str, float] = field(default_factory=dict)
    llm_usage: LLMUsage | None = None
    short_answer: ShortAnswer | None = None


ABSTAIN_TEXT = "I could not find an answer to that in the sources."
