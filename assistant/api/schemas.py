"""Request and response models; their descriptions are the OpenAPI documentation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from assistant.answering.types import Answer, Citation
from assistant.answering.verification import answer_sentences
from assistant.index.serving import Passage

QUESTION_EXAMPLE = "When was the first congress of World Azerbaijanis held?"


Condition = str | list[str] | dict[Literal["eq", "in", "prefix"], str | list[str]]
FilterIn = dict[str, Condition]
FILTER_HELP = (
    "Only documents whose fields match: `source` (path), `kind` (file type), `title`, `tags`, or any "
    'metadata field given at upload. A string is equality, a list "any of", or {"eq": v}, {"in": [...]}, '
    '{"prefix": p}; all fields must match. Applied alike to dense search and BM25.'
)


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
    collection: str = Field("default", description="The collection to answer from.", examples=["default"])
    filter: FilterIn | None = Field(None, description=FILTER_HELP, examples=[{"tags": "policy"}])


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


class ShortAnswerOut(BaseModel):
    text: str = Field(description="The exact answer: `GET /sources/{source}/text` sliced at [start:end].")
    source: str
    start: int
    end: int
    n: int = Field(description="The citation whose span holds it.")

    @classmethod
    def from_answer(cls, answer: Answer) -> ShortAnswerOut | None:
        short = answer.short_answer
        if short is None:
            return None
        return cls(text=short.text, source=short.source, start=short.start, end=short.end, n=short.n)


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
    short_answer: ShortAnswerOut | None = Field(
        None,
        description="The exact short answer inside a cited sentence (reader model); null when abstaining "
        "or not confident.",
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
            short_answer=ShortAnswerOut.from_answer(answer),
        )


class SearchRequest(BaseModel):
    query: str = Field(description="Text to search for.", examples=["Support to the Azerbaijan Diaspora Fund"])
    top_k: int | None = Field(None, description="Passages to return (default from settings).")
    collection: str = Field("default", description="The collection to search.")
    filter: FilterIn | None = Field(None, description=FILTER_HELP, examples=[{"source": {"prefix": "hr/"}}])


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
    kind: str = Field(description="The file type: txt, md, html, pdf, docx, pptx, csv or epub.")
    hash: str = Field(description="SHA-256 of the file's bytes when indexed.")
    chunks: int
    chars: int = Field(description="Length of the document's text.")


class SourcesResponse(BaseModel):
    generation: str
    sources: list[SourceOut]
    skipped: list[dict] = Field(description="Files that could not be read, with the reason.")


class ExamplesResponse(BaseModel):
    generation: str
    questions: list[str] = Field(
        description="Up to three questions about names the documents keep coming back to, or about their titles."
    )


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


class JobOut(BaseModel):
    id: str
    kind: Literal["index", "upload", "delete"]
    collection: str
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    files: list[str] = Field(description="The documents this job adds, replaces or deletes.")
    files_done: int = Field(description="Files parsed so far, of files_total (the changed ones).")
    files_total: int
    chunks_embedded: int = Field(description="Chunks and sentences embedded so far, of texts_total.")
    texts_total: int
    errors: dict[str, str] = Field(description="Files that could not be indexed, with why.")
    error: str | None = Field(None, description="Why the job failed (the sources were put back).")
    error_code: str | None = None
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    queued_seconds: float | None = None
    run_seconds: float | None = None
    report: RebuildOut | None = Field(None, description="The rebuild's report, once done.")


class CollectionIn(BaseModel):
    name: str = Field(description="1-48 lower-case letters, digits, '-' or '_'.", examples=["hr"])


class CollectionOut(BaseModel):
    name: str
    generation: str | None = Field(description="The serving index generation; null before the first build.")
    documents: int
    chunks: int


class DocumentOut(BaseModel):
    id: str = Field(description="Path inside the collection's folder.")
    status: Literal["indexed", "pending", "skipped", "removing"] = Field(
        description="indexed; pending (in the folder, not yet indexed); skipped (unreadable, see reason); "
        "removing (deleted, the index not yet rebuilt)."
    )
    reason: str | None = None
    title: str | None = None
    kind: str | None = None
    hash: str | None = None
    chunks: int = 0
    chars: int = 0
    metadata: dict = Field(default_factory=dict)


class DocumentsResponse(BaseModel):
    collection: str
    generation: str | None
    documents: list[DocumentOut]
