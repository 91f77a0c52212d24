"""Dependencies handed to routes: the assistant built in the app's lifespan."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request

from assistant.answering.types import Answer
from assistant.api.observability import note_request
from assistant.api.security import admin, caller
from assistant.retrieval import Turn
from assistant.runtime import Assistant


def get_assistant(request: Request) -> Assistant:
    return request.app.state.assistant


AssistantDep = Annotated[Assistant, Depends(get_assistant)]
CallerDep = Annotated[str, Depends(caller)]
AdminDep = Annotated[str, Depends(admin)]


def begin_stream(items: Iterator[str | Answer]) -> Iterator[str | Answer]:
    """Runs an answer up to its first piece now, in the route: an error before it (a dead LLM)
    keeps its HTTP status instead of arriving inside a 200 stream."""
    first = next(items)
    return itertools.chain([first], items)


def note_answer(request: Request, answer: Answer, turns: list[Turn]) -> None:
    """Counts the answer in the metrics and adds it to the request's log line."""
    metrics = request.app.state.metrics
    if metrics is not None:
        metrics.answered(answer)
    fields = {
        "abstained": answer.abstained,
        "citations": len(answer.citations),
        **{f"{stage}_ms": round(seconds * 1000, 2) for stage, seconds in answer.timings.items()},
    }
    if request.app.state.settings.log_questions:
        fields["question"] = next((t.content for t in reversed(turns) if t.role == "user"), "")
    note_request(**fields)
