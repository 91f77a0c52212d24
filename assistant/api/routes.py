"""The HTTP routes. Plain `def`: FastAPI runs them in its thread pool, off the event loop; only
`POST /index?wait=true` is async, so that waiting for a job holds no pool thread."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse

from assistant.answering.citations import MARKER
from assistant.answering.types import Answer
from assistant.api.deps import AdminDep, AssistantDep, CallerDep, JobsDep, assistant_for, begin_stream, note_answer
from assistant.api.documents import job_response
from assistant.api.schemas import (
    ChatRequest,
    ChatResponse,
    CitationOut,
    ErrorResponse,
    ExamplesResponse,
    HealthResponse,
    JobOut,
    PassageOut,
    ProbeResponse,
    SearchRequest,
    SearchResponse,
    ShortAnswerOut,
    SourceOut,
    SourcesResponse,
    unsupported_sentences,
)
from assistant.errors import AssistantError, JobFailed, TooManyWaiting
from assistant.index.filters import DocumentFilter
from assistant.retrieval.retriever import Turn
from assistant.service.assembly import Assistant
from assistant.service.jobs import Job

logger = logging.getLogger(__name__)
router = APIRouter()
ERRORS = {
    400: {"model": ErrorResponse},
    401: {"model": ErrorResponse, "description": "API keys are configured and none (or a wrong one) was sent."},
    403: {"model": ErrorResponse, "description": "The API key may not use this collection."},
    404: {"model": ErrorResponse, "description": "No such collection."},
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
def chat(request: ChatRequest, http: Request, _: CallerDep):
    """Answer the last user message from the sources, citing exact spans as `[n]` markers.

    With `stream: true` the response is `text/event-stream`. A generative answer first sends
    `draft` events with the LLM's text as it arrives (not yet checked). Then, for every answer:
    `answer` events with the verified text, one `citation` event per citation, and `done` with
    `abstained`, `reason`, `unsupported`, `short_answer`, and the whole verified `answer` and `citations`, which
    replace the draft. An error after the stream began is an `error` event with `detail` and `code`.
    """
    turns = [Turn(m.role, m.content) for m in request.messages]
    assistant = assistant_for(http, request.collection)
    document_filter = DocumentFilter.parse(request.filter)
    if not request.stream:
        answer = assistant.ask(turns, request.top_k, document_filter)
        note_answer(http, answer, turns)
        return ChatResponse.from_answer(answer)
    items = begin_stream(assistant.ask_stream(turns, request.top_k, document_filter=document_filter))
    return StreamingResponse(_sse(http, items, turns), media_type="text/event-stream")


def _sse(http: Request, items: Iterator[str | Answer], turns: list[Turn]) -> Iterator[str]:
    try:
        for item in items:
            if isinstance(item, str):
                yield _event("draft", {"text": item})
                continue
            note_answer(http, item, turns)
            for piece in answer_pieces(item.text):
                yield _event("answer", {"text": piece})
            citations = [CitationOut.from_citation(c).model_dump() for c in item.citations]
            for citation in citations:
                yield _event("citation", citation)
            final = {
                "answer": item.text,
                "citations": citations,
                "unsupported": item.unsupported,
                "unsupported_text": unsupported_sentences(item),
                "short_answer": short.model_dump() if (short := ShortAnswerOut.from_answer(item)) else None,
            }
            yield _event("done", {"abstained": item.abstained, "reason": item.reason, **final})
    except AssistantError as error:
        logger.warning("Streamed answer failed: %s", error)
        yield _event("error", {"detail": str(error), "code": error.code})


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


STATIC = Path(__file__).parent / "static"
# The page loads only its own files and talks only to this server.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    """The chat page (plain HTML, CSS and JS from the package: no CDN, no build step)."""
    return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": PAGE_POLICY})


@router.post("/search", response_model=SearchResponse, responses=ERRORS, summary="Ranked passages")
def search(request: SearchRequest, http: Request, _: CallerDep) -> SearchResponse:
    """The passages retrieval finds for a query, best first: for tuning and debugging retrieval."""
    assistant = assistant_for(http, request.collection)
    retrieval = assistant.search(request.query, request.top_k, DocumentFilter.parse(request.filter))
    return SearchResponse(query=request.query, passages=[PassageOut.from_passage(p) for p in retrieval.passages])


@router.post(
    "/index",
    status_code=202,
    response_model=JobOut,
    responses={**ERRORS, 403: {"model": ErrorResponse}, 409: {"model": ErrorResponse}},
    summary="Rebuild the index",
)
async def rebuild(
    http: Request,
    jobs: JobsDep,
    _: AdminDep,
    collection: str = Query("default", description="The collection to rebuild."),
    wait: bool = Query(False, description="Answer when the job has finished (200), not when queued (202)."),
):
    """Rebuild (incrementally) from the collection's folder, as a job; needs an API key.
    202 with the job (`GET /jobs/{id}`); with `wait=true`, 200 with the finished job, the error's
    own status when it failed (503 when the folder is gone, 500 for an unexpected error), or 202
    if it is still running when the wait ends. A waiting request holds no worker thread, and at
    most MAX_WAITERS wait at once (429 beyond)."""
    await run_in_threadpool(assistant_for, http, collection)
    if wait and WAITERS.full():
        raise TooManyWaiting(f"{MAX_WAITERS} requests already wait for jobs; retry, or poll GET /jobs/{{id}}.")
    job = jobs.submit("index", collection, [])
    if not wait:
        return job_response(job)
    with WAITERS.held():
        await _finished(job, WAIT_SECONDS)
    if job.state == "failed":
        raise job.exception or JobFailed(f"The job failed: {job.error}")
    return job_response(job, status=200 if job.over else 202)


MAX_WAITERS = 32
WAIT_SECONDS = 3600.0


class _Waiters:
    """How many requests wait on jobs now (the event loop's thread alone counts them)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.count = limit, 0

    def full(self) -> bool:
        return self.count >= self.limit

    @contextmanager
    def held(self) -> Iterator[None]:
        self.count += 1
        try:
            yield
        finally:
            self.count -= 1


WAITERS = _Waiters(MAX_WAITERS)


async def _finished(job: Job, timeout: float) -> None:
    """Until the job is over or `timeout` passes, awaiting its event: no thread is held."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def wake() -> None:
        if not loop.is_closed():  # closed: the server stopped, nobody is waiting any more
            loop.call_soon_threadsafe(done.set)

    job.when_finished(wake)
    with suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout)


@router.get("/livez", response_model=ProbeResponse, summary="Liveness: the process answers")
def livez() -> ProbeResponse:
    """200 while the process can answer HTTP at all; touches neither the index nor the LLM, so a
    liveness probe never restarts a server that is only waiting for them."""
    return ProbeResponse(status="alive")


@router.get("/readyz", response_model=ProbeResponse, responses={503: {"model": ProbeResponse}}, summary="Readiness")
def readyz(assistant: AssistantDep):
    """200 when /chat can answer: an index loaded and its store reachable, and the LLM reachable
    when answers need it (generative, without the extractive fallback). 503 with why otherwise."""
    try:
        assistant.handle.current().store.heartbeat()
    except AssistantError as error:
        return JSONResponse(ProbeResponse(status="not_ready", detail=str(error)).model_dump(), status_code=503)
    llm, llm_blocks_answers = _llm_state(assistant)
    if llm_blocks_answers:
        detail = f"The LLM at {assistant.generative.llm.base_url} is {llm}"
        return JSONResponse(ProbeResponse(status="not_ready", detail=detail).model_dump(), status_code=503)
    return ProbeResponse(status="ready")


def _llm_state(assistant: Assistant) -> tuple[str, bool]:
    """The LLM as /health reports it ("not_configured", "ok", "unreachable: why"), and whether
    that stops /chat from answering: a dead LLM does unless answers fall back to extractive."""
    if assistant.generative is None:
        return "not_configured", False
    problem = assistant.generative.llm.reachable()
    if problem is None:
        return "ok", False
    return f"unreachable: {problem}", not assistant.settings.llm_fallback_extractive


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
def metrics(http: Request, _: CallerDep) -> Response:
    """Requests, latency, answers and abstentions, stage timings, the index and rebuilds, in
    Prometheus' text format. 404 when ASSISTANT_METRICS=false."""
    registry = http.app.state.metrics
    if registry is None:
        raise HTTPException(404, "Metrics are off (ASSISTANT_METRICS=false).")
    return Response(registry.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
def health(assistant: AssistantDep):
    """Is an index ready, and how big is it? 503 until `assistant index` has run."""
    llm, llm_blocks_answers = _llm_state(assistant)
    common = {
        "store": "server" if assistant.settings.chroma_url else "embedded",
        "answerer": "generative" if assistant.generative else "extractive",
        "llm": llm,
    }
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
    if llm_blocks_answers:
        body.detail = "The LLM is unreachable; /chat answers 502 until it is back."
        return JSONResponse(body.model_dump(), status_code=503)
    return body


COLLECTION = Query("default", description="The collection.")


@router.get("/sources", response_model=SourcesResponse, responses=ERRORS)
def sources(http: Request, _: CallerDep, collection: str = COLLECTION) -> SourcesResponse:
    """Documents in the serving index, with content hashes and chunk counts."""
    index = assistant_for(http, collection).handle.current()
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


@router.get("/examples", response_model=ExamplesResponse, responses=ERRORS)
def examples(http: Request, _: CallerDep, collection: str = COLLECTION) -> ExamplesResponse:
    """Example questions for an empty chat page, made from the indexed documents themselves."""
    index = assistant_for(http, collection).handle.current()
    return ExamplesResponse(generation=index.generation, questions=index.example_questions)


@router.get(
    "/sources/{doc_id:path}/text",
    responses={
        200: {"description": "The document's text.", "content": {"text/plain": {"schema": {"type": "string"}}}},
        404: {"model": ErrorResponse},
        **ERRORS,
    },
)
def source_text(doc_id: str, http: Request, _: CallerDep, collection: str = COLLECTION) -> PlainTextResponse:
    """The document's text exactly as indexed: citation offsets point into it."""
    return PlainTextResponse(assistant_for(http, collection).handle.current().document_text(doc_id))
