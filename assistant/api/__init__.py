"""The HTTP API: create_app(settings), schemas, routes and one error table."""

from assistant.api.app import create_app

__all__ = ["create_app"]
