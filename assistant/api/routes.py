"""The HTTP routes. Plain `def`: FastAPI runs them in its thread pool, off the event loop."""

from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from assistant.answering.citations import MARKER
from assistant.answering.types import Answer
from assistant.api.deps import AssistantDep
from assistant.api.schemas import (
    ChatRequest,
    ChatResponse,
    CitationOut,
    ErrorResponse,
    HealthResponse,
    PassageOut,
    SearchRequest,
    SearchResponse,
    SourceOut,
    SourcesResponse,
)
from assistant.errors import AssistantError
from assistant.retrieval import Turn

router = APIRouter()
ERRORS = {
    400: {"model": ErrorResponse},
    422: {"model": ErrorResponse},
    503: {"model": ErrorResponse, "description": "No index yet, or the vector store is unreachable."},
}


@router.post("/chat", response_model=ChatResponse, responses=ERRORS, summary="Answer with citations")
def chat(request: ChatRequest, assistant: AssistantDep):
    """Answer the last user message from the sources, citing exact spans as `[n]` markers.

    With `stream: true` the response is `text/event-stream`: `answer` events carry text, one
    `citation` event per citation follows, then `done` with `abstained` and `reason`.
    """
    turns = [Turn(m.role, m.content) for m in request.messages]
    answer = assistant.ask(turns, request.top_k)
    if request.stream:
        return StreamingResponse(_sse(answer), media_type="text/event-stream")
    return ChatResponse.from_answer(answer)


def _sse(answer: Answer) -> Iterator[str]:
    for piece in _pieces(answer.text):
        yield _event("answer", {"text": piece})
    for citation in answer.citations:
        yield _event("citation", CitationOut.from_citation(citation).model_dump())
    yield _event("done", {"abstained": answer.abstained, "reason": answer.reason})


def _pieces(text: str) -> list[str]:
    """Split after each marker so clients render the answer as it arrives, a claim at a time."""
    pieces, begin = [], 0
    for match in MARKER.finditer(text):
        pieces.append(text[begin : match.end()])
        begin = match.end()
    if begin < len(text):
        pieces.append(text[begin:])
    return pieces


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post("/search", response_model=SearchResponse, responses=ERRORS, summary="Ranked passages")
def search(request: SearchRequest, assistant: AssistantDep) -> SearchResponse:
    """The passages retrieval finds for a query, best first: for tuning and debugging retrieval."""
    retrieval = assistant.search(request.query, request.top_k)
    return SearchResponse(query=request.query, passages=[PassageOut.from_passage(p) for p in retrieval.passages])


@router.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
def health(assistant: AssistantDep):
    """Is an index ready, and how big is it? 503 until `assistant index` has run."""
    store_kind = "server" if assistant.settings.chroma_url else "embedded"
    try:
        index = assistant.handle.current()
        index.store.heartbeat()
    except AssistantError as error:
        status = "no_index" if error.code == "index_not_built" else "degraded"
        body = HealthResponse(status=status, index_ready=False, store=store_kind, detail=str(error))
        return JSONResponse(body.model_dump(), status_code=503)
    return HealthResponse(
        status="ok",
        index_ready=True,
        generation=index.generation,
        documents=len(index.manifest.documents),
        chunks=len(index.chunks),
        store=store_kind,
    )


@router.get("/sources", response_model=SourcesResponse, responses=ERRORS)
def sources(assistant: AssistantDep) -> SourcesResponse:
    """Documents in the serving index, with content hashes and chunk counts."""
    index = assistant.handle.current()
    return SourcesResponse(
        generation=index.generation,
        sources=[
            SourceOut(
                id=doc.id,
                title=doc.title,
                kind=doc.kind,
                hash=doc.content_hash,
                chunks=len(doc.chunks),
                chars=len(index.texts[doc.id]),
            )
            for doc in index.manifest.documents.values()
        ],
        skipped=[{"source": s, "reason": r} for s, r in index.manifest.skipped],
    )


@router.get(
    "/sources/{doc_id:path}/text",
    response_class=PlainTextResponse,
    responses={404: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
)
def source_text(doc_id: str, assistant: AssistantDep) -> PlainTextResponse:
    """The document's text exactly as indexed: citation offsets point into it."""
    return PlainTextResponse(assistant.handle.current().document_text(doc_id))
