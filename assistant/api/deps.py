"""Dependencies handed to routes: the assistant built in the app's lifespan."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request

from assistant.answering.types import Answer
from assistant.api.observability import note_request
from assistant.api.security import admin, caller, check_scope, document_editor
from assistant.retrieval.retriever import Turn
from assistant.service.assembly import Assistant
from assistant.service.collections import DEFAULT, Library
from assistant.service.jobs import Jobs


def get_assistant(request: Request) -> Assistant:
    """The default collection's assistant (probes, metrics)."""
    return request.app.state.library.get(DEFAULT)


def get_library(request: Request) -> Library:
    return request.app.state.library


def get_jobs(request: Request) -> Jobs:
    return request.app.state.jobs


def assistant_for(request: Request, collection: str) -> Assistant:
    """A collection's assistant, for a caller whose key may use it (403 otherwise, 404 if none).
    Call it in the route body: the caller dependency has then checked the key."""
    check_scope(request, collection)
    return request.app.state.library.get(collection)


AssistantDep = Annotated[Assistant, Depends(get_assistant)]
LibraryDep = Annotated[Library, Depends(get_library)]
JobsDep = Annotated[Jobs, Depends(get_jobs)]
CallerDep = Annotated[str, Depends(caller)]
AdminDep = Annotated[str, Depends(admin)]
EditorDep = Annotated[str, Depends(document_editor)]


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
