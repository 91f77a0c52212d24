"""What operators watch: a request id on every request and log line, one log line per request,
and Prometheus metrics (prometheus-client, one registry per app so apps in one process stay apart).
"""

from __future__ import annotations

import json
import logging
import re
import time
import unicodedata
import uuid
from contextvars import ContextVar

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from assistant.answering.types import Answer
from assistant.errors import AssistantError

logger = logging.getLogger("assistant.requests")

request_id: ContextVar[str] = ContextVar("request_id", default="-")
# Fields a route adds to its request's log line (the answer's outcome and timings).
_request_fields: ContextVar[dict | None] = ContextVar("request_fields", default=None)
# A caller's id is echoed back and written to logs: only a short token of safe characters.
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# The sample article answers in 20-40 ms, a generative answer in seconds: buckets span both.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record, whichever logger wrote it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def escape_controls(text: str) -> str:
    """Control characters and line/paragraph separators as escapes: a request path with %0A or
    U+2028 cannot start a forged line of the log."""
    return "".join(_escaped(c) if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)


def _escaped(c: str) -> str:
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c) or f"\\u{ord(c):04x}"


class TextFormatter(logging.Formatter):
    """The default one-line text log, with the message's control characters escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's own name
        original = record.message
        record.message = escape_controls(original)
        try:
            return super().formatMessage(record)
        finally:
            record.message = original


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and any `extra` fields."""

    _STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        line.update({k: v for k, v in vars(record).items() if k not in self._STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        # json escapes control characters; U+2028/2029 it leaves raw, and they end lines in some readers.
        return (
            json.dumps(line, ensure_ascii=False, default=str).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        )


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """Called once by `assistant serve`: every handler of the root logger gets the request id."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = time.gmtime
    else:
        formatter = TextFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's own access log would be a second, id-less line per request.
    logging.getLogger("uvicorn.access").disabled = True


class Metrics:
    """The counters and histograms the API updates, and a collector that reads the index at scrape."""

    def __init__(self, assistant_source) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "assistant_requests",
            "HTTP requests by route and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "assistant_request_duration_seconds",
            "HTTP request latency by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.answers = Counter(
            "assistant_answers",
            "Answers given, by outcome (answered or abstained).",
            ["outcome"],
            registry=self.registry,
        )
        self.stage = Histogram(
            "assistant_answer_stage_seconds",
            "Time per question in retrieval, answering, and at the LLM.",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rebuild_seconds = Histogram(
            "assistant_rebuild_duration_seconds",
            "Index rebuilds made by this process.",
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 1800),
            registry=self.registry,
        )
        self.rebuild_failures = Counter(
            "assistant_rebuild_failures", "Index rebuilds that failed in this process.", registry=self.registry
        )
        self.registry.register(_IndexCollector(assistant_source))

    def answered(self, answer: Answer) -> None:
        self.answers.labels("abstained" if answer.abstained else "answered").inc()
        for stage, seconds in answer.timings.items():
            if stage != "llm" or answer.llm_usage is not None:
                self.stage.labels(stage).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _IndexCollector(Collector):
    """The serving generation and its size, read when scraped (nothing to keep in sync)."""

    def __init__(self, assistant_source) -> None:
        self._assistant_source = assistant_source

    def collect(self):
        info = GaugeMetricFamily(
            "assistant_index_generation", "The generation being served (value 1).", labels=["generation"]
        )
        documents = GaugeMetricFamily("assistant_index_documents", "Documents in the served generation.")
        chunks = GaugeMetricFamily("assistant_index_chunks", "Chunks in the served generation.")
        assistant = self._assistant_source()
        try:
            index = assistant.handle.current() if assistant is not None else None
        except AssistantError:
            index = None
        if index is not None:
            info.add_metric([index.generation], 1)
            documents.add_metric([], len(index.manifest.documents))
            chunks.add_metric([], len(index.chunks))
        yield from (info, documents, chunks)


def note_request(**fields) -> None:
    """Adds fields to the log line of the request being served (nothing outside a request)."""
    current = _request_fields.get()
    if current is not None:
        current.update(fields)


class RequestContext:
    """ASGI middleware: takes or makes the request id, echoes it, logs and counts each request."""

    def __init__(self, app, metrics: Metrics | None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _ACCEPTABLE_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        fields: dict = {}
        fields_token = _request_fields.set(fields)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            if self.metrics is not None:
                self.metrics.requests.labels(route, scope["method"], str(status)).inc()
                self.metrics.latency.labels(route).observe(seconds)
            logger.info(
                "%s %s %s %.1f ms",
                scope["method"],
                scope["path"],
                status,
                seconds * 1000,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                    **fields,
                },
            )
            _request_fields.reset(fields_token)
            request_id.reset(token)
