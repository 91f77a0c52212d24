"""create_app(settings): heavy parts built in the lifespan, domain errors mapped in one table."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant import __version__
from assistant.api.documents import router as documents_router
from assistant.api.error_body import error_body, status_for
from assistant.api.observability import Metrics, RequestContext
from assistant.api.openai_compat import router as openai_router
from assistant.api.routes import STATIC, router
from assistant.api.security import BodyLimit, LoopbackHostOnly, RateLimiter, check_keys, is_loopback
from assistant.errors import (
    AssistantError,
    CollectionExists,
    CollectionNotFound,
    DocumentNotFound,
    IndexCorrupt,
    IndexNotBuilt,
    InsecureBinding,
    InvalidQuestion,
    JobNotFound,
    LLMTimeout,
    LLMUnavailable,
    RebuildInProgress,
    SourcesMissing,
    StoreUnavailable,
    UploadRefused,
)
from assistant.service.assembly import Assistant, build_library, library_from
from assistant.service.collections import DEFAULT
from assistant.service.jobs import Job, Jobs
from assistant.settings import Settings

logger = logging.getLogger(__name__)

# Domain error -> HTTP status; anything not listed is a 500.
STATUS_FOR_ERROR: dict[type[AssistantError], int] = {
    InvalidQuestion: 422,
    LLMUnavailable: 502,
    LLMTimeout: 504,
    DocumentNotFound: 404,
    IndexNotBuilt: 503,
    IndexCorrupt: 503,
    StoreUnavailable: 503,
    SourcesMissing: 503,
    RebuildInProgress: 409,
    CollectionNotFound: 404,
    CollectionExists: 409,
    JobNotFound: 404,
    UploadRefused: 400,  # or the status it carries (413, 415)
}


def _default_assistant(app: FastAPI) -> Assistant | None:
    library = getattr(app.state, "library", None)
    return library.get(DEFAULT) if library is not None else None


def _count_rebuild(metrics: Metrics | None, job: Job) -> None:
    if metrics is None:
        return
    if job.state == "done":
        metrics.rebuild_seconds.observe(job.run_seconds or 0.0)
    elif job.error_code != "rebuild_in_progress":
        metrics.rebuild_failures.inc()


def create_app(settings: Settings, assistant: Assistant | None = None) -> FastAPI:
    """The API; pass `assistant` to share an already-loaded one (tests, benchmarks).

    Access rules and body limits come from `settings`; answering limits from the assistant's own.
    """
    if not settings.keys and not is_loopback(settings.host):
        raise InsecureBinding(
            f"Refusing to serve on {settings.host} without ASSISTANT_API_KEYS: anyone on the network could use it."
        )
    check_keys(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        library = library_from(assistant) if assistant is not None else build_library(settings)
        library.discard_incoming()  # uploads a stopped server had staged: their jobs died with it
        app.state.library = library
        app.state.jobs = Jobs(
            library.get, on_finished=partial(_count_rebuild, app.state.metrics), changing=library.changing
        )
        yield

    app = FastAPI(
        title="Cited answers assistant",
        version=__version__,
        description="Answers questions from a collection of documents and cites the exact passages used.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    app.state.metrics = Metrics(lambda: _default_assistant(app)) if settings.metrics else None
    # Starlette runs the last added outermost: the request id and the log line cover every
    # response, the refusals of the middlewares inside included.
    # Uploads carry files: up to max_upload_files of max_upload_bytes each, and a declared length.
    upload_bytes = settings.max_upload_bytes * settings.max_upload_files + 1024 * 1024
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, upload_bytes=upload_bytes)
    if not settings.keys:
        app.add_middleware(LoopbackHostOnly)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(RequestContext, metrics=app.state.metrics)
    app.include_router(router)
    app.include_router(openai_router)
    app.include_router(documents_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(AssistantError)
    async def domain_error(request: Request, error: AssistantError) -> JSONResponse:
        status = next((s for cls, s in STATUS_FOR_ERROR.items() if isinstance(error, cls)), 500)
        status = getattr(error, "status", status)
        status = status_for(request.url.path, status)
        return JSONResponse(error_body(request.url.path, status, str(error), error.code), status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {
            400: "bad_request",
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            429: "rate_limited",
        }.get(error.status_code)
        return JSONResponse(
            error_body(request.url.path, error.status_code, str(error.detail), code or f"http_{error.status_code}"),
            status_code=error.status_code,
            headers=error.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        path = request.url.path
        if any(p.get("type") == "json_invalid" for p in problems):
            return JSONResponse(error_body(path, 400, "The request body is not valid JSON.", "malformed_json"), 400)
        detail = "; ".join(f"{'.'.join(str(x) for x in p['loc'][1:]) or 'body'}: {p['msg']}" for p in problems)
        status = status_for(path, 422)
        return JSONResponse(error_body(path, status, detail, "invalid_request"), status_code=status)

    return app
