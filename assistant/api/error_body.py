"""The one shape of an error body: ours (`detail`, `code`), or OpenAI's under /v1 so its clients parse it."""

from __future__ import annotations

# OpenAI's `type` values, by status: what its SDKs map to their exception classes.
_OPENAI_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error", 429: "rate_limit_error"}


def is_openai_path(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


def status_for(path: str, status: int) -> int:
    """OpenAI's API answers a request it cannot take with 400 (its SDKs raise BadRequestError),
    where ours says 422."""
    return 400 if status == 422 and is_openai_path(path) else status


def error_body(path: str, status: int, detail: str, code: str) -> dict:
    if is_openai_path(path):
        kind = _OPENAI_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
        return {"error": {"message": detail, "type": kind, "code": code, "param": None}}
    return {"detail": detail, "code": code}
