"""Dependencies handed to routes: the assistant built in the app's lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from assistant.api.security import admin, caller
from assistant.runtime import Assistant


def get_assistant(request: Request) -> Assistant:
    return request.app.state.assistant


AssistantDep = Annotated[Assistant, Depends(get_assistant)]
CallerDep = Annotated[str, Depends(caller)]
AdminDep = Annotated[str, Depends(admin)]
