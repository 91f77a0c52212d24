"""Who may call the API: Bearer keys, per-key rate limits, and a cap on request bodies."""

from __future__ import annotations

import hmac
import ipaddress
import json
import math
import re
import threading
import time
from collections import OrderedDict
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from assistant.api.error_body import error_body
from assistant.errors import Misconfigured
from assistant.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="One of ASSISTANT_API_KEYS.")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RateLimiter:
    """A token bucket per caller: `per_minute` requests, refilled continuously.

    Buckets live in a bounded map, least recently used first out: a flood of new callers
    (spoofed addresses) cannot grow memory, and an evicted bucket was the least active one.
    """

    def __init__(self, per_minute: int, max_callers: int = 10_000) -> None:
        self._rate = per_minute / 60.0
        self._capacity = float(per_minute)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max_callers = max_callers
        self._lock = threading.Lock()

    def retry_after(self, caller: str) -> int:
        """0 when the request may go ahead, else seconds until it could."""
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.pop(caller, (self._capacity, now))
            tokens = min(self._capacity, tokens + (now - stamp) * self._rate)
            allowed = tokens >= 1
            self._buckets[caller] = (tokens - 1 if allowed else tokens, now)
            while len(self._buckets) > self._max_callers:
                self._buckets.popitem(last=False)
            return 0 if allowed else max(1, math.ceil((1 - tokens) / self._rate))

    def __len__(self) -> int:
        return len(self._buckets)


MIN_KEY_CHARS = 16  # shorter keys can be guessed; refused at start


def check_keys(settings: Settings) -> None:
    short = [key for key in settings.keys if len(key) < MIN_KEY_CHARS]
    if short:
        raise Misconfigured(
            f"{len(short)} of ASSISTANT_API_KEYS is shorter than {MIN_KEY_CHARS} characters; "
            "use long random keys (python -c 'import secrets; print(secrets.token_urlsafe(24))')."
        )


def _client_address(request: Request) -> str:
    return f"ip:{request.client.host if request.client else 'unknown'}"


def _check_key(request: Request, credentials: HTTPAuthorizationCredentials | None, required: bool) -> str | None:
    keys = request.app.state.settings.keys
    if not keys and not required:
        return None
    if not keys:
        raise HTTPException(
            403,
            "Changing the index over HTTP (rebuilds, uploads, deletions) is disabled: "
            "set ASSISTANT_API_KEYS to enable it.",
        )
    matched = [key for key in keys if credentials is not None and hmac.compare_digest(credentials.credentials, key)]
    if not matched:
        # A wrong key costs the client's address a request: guessing runs into the rate limit.
        _limit(request, _client_address(request))
        raise HTTPException(
            401, "A valid API key is required (Authorization: Bearer <key>).", headers={"WWW-Authenticate": "Bearer"}
        )
    # The collections this key may use (None: all); routes check it against the one they touch.
    request.state.key_scope = request.app.state.settings.key_scopes[matched[0]]
    return credentials.credentials


def check_scope(request: Request, collection: str) -> None:
    """403 when the caller's key is limited to other collections."""
    if not may_use(request, collection):
        raise HTTPException(403, f"This API key may not use the collection {collection!r}.")


def may_use(request: Request, collection: str) -> bool:
    scope = getattr(request.state, "key_scope", None)
    return scope is None or collection in scope


def _limit(request: Request, caller: str) -> None:
    wait = request.app.state.rate_limiter.retry_after(caller)
    if wait:
        raise HTTPException(429, f"Too many requests; retry in {wait}s.", headers={"Retry-After": str(wait)})


def caller(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """Authenticates (when keys are set) and rate-limits; returns who is calling."""
    key = _check_key(request, credentials, required=False)
    who = f"key:{key}" if key else _client_address(request)
    _limit(request, who)
    return who


def admin(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """Like `caller`, but a key is required even on loopback: rebuilding changes what everyone sees."""
    key = _check_key(request, credentials, required=True)
    _limit(request, f"key:{key}")
    return f"key:{key}"


# What the chat page sends with its uploads and deletions. A cross-site form cannot set a header,
# and a cross-site fetch that sets one needs a CORS preflight that this server does not grant.
PAGE_HEADER = "X-Assistant-Page"


def document_editor(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    """Uploads and deletions of documents. With keys, as `admin`. Without keys (loopback only),
    the local page may change the `default` collection, but only a request proven to come from
    this server's own page: its Origin (or, when absent, its Referer) is this server's origin, or
    it carries PAGE_HEADER. Any web site could otherwise post a form to 127.0.0.1."""
    if request.app.state.settings.keys:
        return admin(request, credentials)
    problem = _cross_site(request)
    if problem:
        raise HTTPException(
            403,
            f"{problem} Without ASSISTANT_API_KEYS, documents may be changed only from this server's own page "
            f"(or with the {PAGE_HEADER} header, which no other site's page can send).",
        )
    request.state.key_scope = frozenset({"default"})  # keyless changes reach the default collection alone
    who = _client_address(request)
    _limit(request, who)
    return who


def _cross_site(request: Request) -> str | None:
    """Why the request may come from another site's page, or None when it is this server's own."""
    own = f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
    origin = request.headers.get("origin")
    if origin is not None:
        return None if origin.lower() == own else f"A request from {origin[:100]!r} is not from this server's page."
    referer = request.headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        source = f"{parts.scheme}://{parts.netloc}".lower()
        return None if source == own else f"A request from a page of {source[:100]!r} is not from this server's page."
    if request.headers.get(PAGE_HEADER) is not None:
        return None
    return "The request names no Origin."


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def host_name(header: str) -> str:
    """The name in a Host header, without its port ("[::1]:8000" -> "::1")."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class LoopbackHostOnly:
    """ASGI middleware for keyless mode: answer only requests addressed to a loopback name.

    Without keys, anything that reaches the port may read the corpus. A web page the user
    visits can reach 127.0.0.1 through a domain of its own that resolves there (DNS
    rebinding); its requests carry that domain as Host, and are refused here.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
            name = host_name(host)
            if name not in LOOPBACK_NAMES and not name.endswith(".localhost"):
                detail = "Without ASSISTANT_API_KEYS only loopback host names are answered."
                return await send_error(send, scope, 403, detail, "host_not_allowed")
        await self.app(scope, receive, send)


class BodyLimit:
    """ASGI middleware: refuse bodies over `max_bytes` with a 413, whether declared or streamed.

    A body without Content-Length (chunked) is read up to the limit before the app sees it, so
    an oversized one is refused as such instead of failing half-parsed as a 400.
    """

    def __init__(self, app, max_bytes: int, upload_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes or max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if scope.get("method") == "POST" and _UPLOAD_PATH.match(scope.get("path", "")):
            # Files are not buffered here: their size must be declared, and is checked up front.
            if declared is None or not declared.isdigit():
                detail = "Uploads need a Content-Length header."
                return await send_error(send, scope, 411, detail, "length_required")
            if int(declared) > self.upload_bytes:
                return await self._refuse(scope, send, self.upload_bytes)
            return await self.app(scope, receive, send)
        if declared is not None:
            if declared.isdigit() and int(declared) > self.max_bytes:
                return await self._refuse(scope, send)
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return None
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                return await self._refuse(scope, send)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)

    async def _refuse(self, scope, send, limit: int | None = None) -> None:
        detail = f"Request body over {limit or self.max_bytes} bytes."
        await send_error(send, scope, 413, detail, "body_too_large")


_UPLOAD_PATH = re.compile(r"^/collections/[^/]+/documents/?$")


async def send_error(send, scope, status: int, detail: str, code: str) -> None:
    """A JSON error straight from middleware, in the same shape as the app's own errors."""
    body = json.dumps(error_body(scope.get("path", ""), status, detail, code)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
