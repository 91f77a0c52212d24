"""Who may call the API: Bearer keys, per-key rate limits, and a cap on request bodies."""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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
    """A token bucket per caller: `per_minute` requests, refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self._rate = per_minute / 60.0
        self._capacity = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, caller: str) -> int:
        """0 when the request may go ahead, else seconds until it could."""
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(caller, (self._capacity, now))
            tokens = min(self._capacity, tokens + (now - stamp) * self._rate)
            if tokens >= 1:
                self._buckets[caller] = (tokens - 1, now)
                return 0
            self._buckets[caller] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / self._rate))


def _check_key(settings: Settings, credentials: HTTPAuthorizationCredentials | None, required: bool) -> str | None:
    keys = settings.keys
    if not keys and not required:
        return None
    if not keys:
        raise HTTPException(403, "Rebuilding over HTTP is disabled: set ASSISTANT_API_KEYS to enable it.")
    if credentials is None or credentials.credentials not in keys:
        raise HTTPException(
            401, "A valid API key is required (Authorization: Bearer <key>).", headers={"WWW-Authenticate": "Bearer"}
        )
    return credentials.credentials


def _limit(request: Request, caller: str) -> None:
    wait = request.app.state.rate_limiter.retry_after(caller)
    if wait:
        raise HTTPException(429, f"Too many requests; retry in {wait}s.", headers={"Retry-After": str(wait)})


def caller(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """Authenticates (when keys are set) and rate-limits; returns who is calling."""
    key = _check_key(request.app.state.settings, credentials, required=False)
    who = f"key:{key}" if key else f"ip:{request.client.host if request.client else 'unknown'}"
    _limit(request, who)
    return who


def admin(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """Like `caller`, but a key is required even on loopback: rebuilding changes what everyone sees."""
    key = _check_key(request.app.state.settings, credentials, required=True)
    _limit(request, f"key:{key}")
    return f"key:{key}"


class BodyLimit:
    """ASGI middleware: refuse bodies over `max_bytes` (by header or as they stream) with a 413."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await self._refuse(send)

    async def _refuse(self, send) -> None:
        body = f'{{"detail": "Request body over {self.max_bytes} bytes.", "code": "body_too_large"}}'.encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass
