"""The HTTP routes. Plain `def`: FastAPI runs them in its thread pool, off the event loop."""

from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from assistant.answering.citations import MARKER
from assistant.answering.types import Answer
from assistant.api.deps import AdminDep, AssistantDep, CallerDep
from assistant.api.schemas import (
    ChatRequest,
    ChatResponse,
    CitationOut,
    ErrorResponse,
    HealthResponse,
    PassageOut,
    RebuildOut,
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
    401: {"model": ErrorResponse, "description": "API keys are configured and none (or a wrong one) was sent."},
    413: {"model": ErrorResponse, "description": "Request body too large."},
    422: {"model": ErrorResponse},
    429: {"model": ErrorResponse, "description": "Rate limit reached; see Retry-After."},
    503: {"model": ErrorResponse, "description": "No index yet, or the vector store is unreachable."},
}


STREAM = {
    200: {
        "description": "The answer (JSON), or with `stream: true` Server-Sent Events.",
        "content": {"text/event-stream": {}},
    }
}


@router.post("/chat", response_model=ChatResponse, responses={**ERRORS, **STREAM}, summary="Answer with citations")
def chat(request: ChatRequest, assistant: AssistantDep, _: CallerDep):
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
    for piece in answer_pieces(answer.text):
        yield _event("answer", {"text": piece})
    for citation in answer.citations:
        yield _event("citation", CitationOut.from_citation(citation).model_dump())
    yield _event("done", {"abstained": answer.abstained, "reason": answer.reason})


def answer_pieces(text: str) -> list[str]:
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
def search(request: SearchRequest, assistant: AssistantDep, _: CallerDep) -> SearchResponse:
    """The passages retrieval finds for a query, best first: for tuning and debugging retrieval."""
    retrieval = assistant.search(request.query, request.top_k)
    return SearchResponse(query=request.query, passages=[PassageOut.from_passage(p) for p in retrieval.passages])


@router.post(
    "/index",
    response_model=RebuildOut,
    responses={**ERRORS, 403: {"model": ErrorResponse}, 409: {"model": ErrorResponse}},
    summary="Rebuild the index",
)
def rebuild(assistant: AssistantDep, _: AdminDep) -> RebuildOut:
    """Rebuild (incrementally) from the sources directory; needs an API key. 409 while one runs."""
    return RebuildOut(**assistant.indexer().rebuild().to_json())


@router.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
def health(assistant: AssistantDep):
    """Is an index ready, and how big is it? 503 until `assistant index` has run."""
    common = {
        "store": "server" if assistant.settings.chroma_url else "embedded",
        "answerer": "generative" if assistant.generative else "extractive",
        "llm": "not_configured",
    }
    if assistant.generative is not None:
        problem = assistant.generative.llm.reachable()
        common["llm"] = f"unreachable: {problem}" if problem else "ok"
    try:
        index = assistant.handle.current()
        index.store.heartbeat()
    except AssistantError as error:
        status = "no_index" if error.code == "index_not_built" else "degraded"
        body = HealthResponse(status=status, index_ready=False, detail=str(error), **common)
        return JSONResponse(body.model_dump(), status_code=503)
    body = HealthResponse(
        status="degraded" if common["llm"].startswith("unreachable") else "ok",
        index_ready=True,
        generation=index.generation,
        documents=len(index.manifest.documents),
        chunks=len(index.chunks),
        **common,
    )
    # Without a fallback, a dead LLM means /chat cannot answer: not ready.
    if body.status == "degraded" and not assistant.settings.llm_fallback_extractive:
        body.detail = "The LLM is unreachable; /chat answers 502 until it is back."
        return JSONResponse(body.model_dump(), status_code=503)
    return body


@router.get("/sources", response_model=SourcesResponse, responses=ERRORS)
def sources(assistant: AssistantDep, _: CallerDep) -> SourcesResponse:
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
        skipped=[{"source": s, "reason": r} for s, r, _ in index.manifest.skipped],
    )


@router.get(
    "/sources/{doc_id:path}/text",
    responses={
        200: {"description": "The document's text.", "content": {"text/plain": {"schema": {"type": "string"}}}},
        404: {"model": ErrorResponse},
        **ERRORS,
    },
)
def source_text(doc_id: str, assistant: AssistantDep, _: CallerDep) -> PlainTextResponse:
    """The document's text exactly as indexed: citation offsets point into it."""
    return PlainTextResponse(assistant.handle.current().document_text(doc_id))
