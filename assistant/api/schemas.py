"""Request and response models; their descriptions are the OpenAPI documentation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from assistant.answering.types import Answer, Citation
from assistant.answering.verification import answer_sentences
from assistant.reader import Passage

QUESTION_EXAMPLE = "When was the first congress of World Azerbaijanis held?"


class Message(BaseModel):
    role: Literal["user", "assistant"] = Field(description="Who said it.", examples=["user"])
    content: str = Field(description="The message text.", examples=[QUESTION_EXAMPLE])


class ChatRequest(BaseModel):
    messages: list[Message] = Field(
        min_length=1,
        description="The conversation so far; the last user message is the question.",
        examples=[[{"role": "user", "content": QUESTION_EXAMPLE}]],
    )
    top_k: int | None = Field(None, description="Passages to retrieve (default from settings).", examples=[5])
    stream: bool = Field(False, description="Stream Server-Sent Events: answer text, citations, done.")


class PassageOut(BaseModel):
    source: str = Field(description="Document id: its path relative to the sources directory.")
    chunk_id: str = Field(description="The indexed chunk the span comes from.")
    start: int = Field(description="Start offset in the document's text (GET /sources/{id}/text).")
    end: int = Field(description="End offset (exclusive); text == document_text[start:end].")
    text: str = Field(description="The exact span of the document's text.")
    score: float = Field(description="Retrieval score of the chunk (higher is closer).")
    page: int | None = Field(None, description="1-based page, for PDF documents.")

    @classmethod
    def from_passage(cls, passage: Passage | Citation, **extra) -> PassageOut:
        """From a retrieved Passage or a Citation: both carry the same span fields."""
        return cls(
            source=passage.source,
            chunk_id=passage.chunk_id,
            start=passage.start,
            end=passage.end,
            text=passage.text,
            score=passage.score,
            page=passage.page,
            **extra,
        )


class CitationOut(PassageOut):
    n: int = Field(description="The marker number: `[n]` in the answer text.")

    @classmethod
    def from_citation(cls, citation: Citation) -> CitationOut:
        return cls.from_passage(citation, n=citation.n)


class ChatResponse(BaseModel):
    answer: str = Field(description="The answer; each claim is followed by its `[n]` marker.")
    citations: list[CitationOut] = Field(description="One entry per marker used in the answer.")
    abstained: bool = Field(description="True when the sources do not answer the question.")
    reason: str | None = Field(None, description="Why the assistant abstained (or fell back).")
    unsupported: list[int] = Field(
        default_factory=list,
        description="Indexes (0-based) of answer sentences no cited passage supports (generative answers).",
    )
    unsupported_text: list[str] = Field(
        default_factory=list, description="Those sentences' text, without markers (to mark them in the answer)."
    )

    @classmethod
    def from_answer(cls, answer: Answer) -> ChatResponse:
        return cls(
            answer=answer.text,
            citations=[CitationOut.from_citation(c) for c in answer.citations],
            abstained=answer.abstained,
            reason=answer.reason,
            unsupported=answer.unsupported,
            unsupported_text=unsupported_sentences(answer),
        )


class SearchRequest(BaseModel):
    query: str = Field(description="Text to search for.", examples=["Support to the Azerbaijan Diaspora Fund"])
    top_k: int | None = Field(None, description="Passages to return (default from settings).")


class SearchResponse(BaseModel):
    query: str
    passages: list[PassageOut] = Field(description="Ranked passages, best first.")


class HealthResponse(BaseModel):
    status: Literal["ok", "no_index", "degraded"]
    index_ready: bool
    generation: str | None = None
    documents: int = 0
    chunks: int = 0
    store: Literal["embedded", "server"]
    answerer: Literal["extractive", "generative"] = "extractive"
    llm: str = Field("not_configured", description="not_configured, ok, or unreachable: why.")
    detail: str | None = None


class ProbeResponse(BaseModel):
    status: Literal["alive", "ready", "not_ready"]
    detail: str | None = None


class SourceOut(BaseModel):
    id: str = Field(description="Document id (path relative to the sources directory).")
    title: str
    kind: str = Field(description="txt, md, html or pdf.")
    hash: str = Field(description="SHA-256 of the file's bytes when indexed.")
    chunks: int
    chars: int = Field(description="Length of the document's text.")


class SourcesResponse(BaseModel):
    generation: str
    sources: list[SourceOut]
    skipped: list[dict] = Field(description="Files that could not be read, with the reason.")


class ErrorResponse(BaseModel):
    detail: str = Field(description="What went wrong, in words.")
    code: str = Field(description="A stable machine-readable code.")


class RebuildOut(BaseModel):
    added: int
    updated: int
    removed: int
    unchanged: int
    skipped: list[dict] = Field(description="Files that could not be read, with the reason.")
    chunks: int = Field(description="Chunks in the index after the rebuild.")
    embedded: int = Field(description="Chunks embedded by this rebuild.")
    seconds: float
    generation: str | None = Field(description="The generation now serving.")
    full: bool = Field(description="True when settings changed and every document was re-embedded.")
    changed: bool = Field(description="False when nothing changed (no new generation).")


def unsupported_sentences(answer: Answer) -> list[str]:
    if not answer.unsupported:
        return []
    sentences = answer_sentences(answer.text)
    return [sentences[i] for i in answer.unsupported if i < len(sentences)]
