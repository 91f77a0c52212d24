"""An OpenAI-compatible chat endpoint, so existing clients (openai SDK, ChatOpenAI, chat UIs) work.

The answer text carries the `[n]` markers; citations travel in an extra `citations` field on the
message (and on the final chunk when streaming), and as OpenAI `url_citation` annotations whose
URL is the cited document's text (`/sources/{id}/text`) and whose indexes are the marker's place
in the content. `top_k` is accepted beside the OpenAI fields (the SDKs' `extra_body`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from assistant.answering.citations import MARKER
from assistant.answering.types import Answer
from assistant.api.deps import CallerDep, assistant_for, begin_stream, note_answer
from assistant.api.error_body import error_body
from assistant.api.routes import ERRORS, answer_pieces
from assistant.api.schemas import FILTER_HELP, CitationOut, FilterIn, ShortAnswerOut
from assistant.errors import AssistantError, InvalidQuestion
from assistant.index.filters import DocumentFilter
from assistant.retrieval.retriever import Turn
from assistant.service.collections import DEFAULT

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])
MODEL_ID = "cited-assistant"


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class CompletionRequest(BaseModel):
    """The fields we use; others the OpenAI API defines (temperature, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(MODEL_ID, examples=[MODEL_ID])
    messages: list[OpenAIMessage] = Field(min_length=1)
    stream: bool = False
    top_k: int | None = Field(None, description="Passages to retrieve (extension; `extra_body` in the SDKs).")
    collection: str = Field("default", description="The collection to answer from (extension, `extra_body`).")
    filter: FilterIn | None = Field(None, description=FILTER_HELP + " (extension, `extra_body`)")


class UrlCitation(BaseModel):
    start_index: int = Field(description="Where the `[n]` marker starts in `content`.")
    end_index: int = Field(description="Where it ends.")
    url: str = Field(description="The cited document's text; `#chars=start-end` is the cited span.")
    title: str


class Annotation(BaseModel):
    type: Literal["url_citation"] = "url_citation"
    url_citation: UrlCitation


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    annotations: list[Annotation] = Field(default_factory=list, description="OpenAI's shape of the citations.")
    citations: list[CitationOut] = Field(description="Targets of the `[n]` markers in `content` (extension).")
    abstained: bool = Field(description="True when the sources do not answer (extension).")
    unsupported: list[int] = Field(description="Answer sentences no citation supports (extension).")
    short_answer: ShortAnswerOut | None = Field(None, description="The exact short answer (extension).")


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage = Field(default_factory=Usage)


class OpenAIErrorDetail(BaseModel):
    message: str = Field(description="What went wrong, in words.")
    type: str = Field(description="invalid_request_error, authentication_error, rate_limit_error, server_error, ...")
    code: str = Field(description="Our stable machine-readable code.")
    param: str | None = None


class OpenAIError(BaseModel):
    """OpenAI's error shape, so its SDKs raise their own exceptions with our message."""

    error: OpenAIErrorDetail


ERRORS_V1 = {
    status: {"model": OpenAIError, "description": entry.get("description", "")}
    for status, entry in {**ERRORS, 502: {}, 504: {}}.items()
}
ERRORS_V1[400] = {"model": OpenAIError, "description": "A request we cannot take (OpenAI answers these with 400)."}
ERRORS_V1.pop(422, None)


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "assistant"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


STREAM = {
    200: {
        "description": "A chat.completion, or with `stream: true` chat.completion.chunk events ending in [DONE]; "
        "the last chunk carries `citations`.",
        "content": {"text/event-stream": {}},
    }
}


@router.get("/models", response_model=ModelList, responses={401: ERRORS_V1[401], 429: ERRORS_V1[429]})
def models(_: CallerDep) -> ModelList:
    return ModelList(data=[ModelCard(id=MODEL_ID)])


@router.post("/chat/completions", response_model=ChatCompletion, responses={**ERRORS_V1, **STREAM})
def chat_completions(request: CompletionRequest, http: Request, _: CallerDep):
    """OpenAI chat completions over the sources; `[n]` markers in the text, citations beside it."""
    turns = [_turn(m) for m in request.messages if m.role in ("system", "developer", "user", "assistant")]
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    assistant = assistant_for(http, request.collection)
    document_filter = DocumentFilter.parse(request.filter)
    if request.stream:
        items = begin_stream(assistant.ask_stream(turns, request.top_k, document_filter=document_filter))
        chunks = _chunks(items, completion_id, request.model, http, turns, request.collection)
        return StreamingResponse(chunks, media_type="text/event-stream")
    answer = assistant.ask(turns, request.top_k, document_filter)
    note_answer(http, answer, turns)
    annotations = _annotations(answer, str(http.base_url), request.collection)
    message = AssistantMessage(
        content=answer.text,
        annotations=annotations,
        citations=[CitationOut.from_citation(c) for c in answer.citations],
        abstained=answer.abstained,
        unsupported=answer.unsupported,
        short_answer=ShortAnswerOut.from_answer(answer),
    )
    return ChatCompletion(
        id=completion_id,
        created=int(time.time()),
        model=request.model,
        choices=[Choice(message=message)],
        usage=_usage(answer),
    )


def _annotations(answer: Answer, base_url: str, collection: str) -> list[Annotation]:
    query = "" if collection == DEFAULT else f"?collection={quote(collection)}"
    by_number = {citation.n: citation for citation in answer.citations}
    annotations = []
    for match in MARKER.finditer(answer.text):
        citation = by_number.get(int(match.group(1)))
        if citation is None:
            continue
        url = f"{base_url}sources/{quote(citation.source)}/text{query}#chars={citation.start}-{citation.end}"
        annotations.append(
            Annotation(
                url_citation=UrlCitation(
                    start_index=match.start(), end_index=match.end(), url=url, title=citation.source
                )
            )
        )
    return annotations


def _usage(answer: Answer) -> Usage:
    """The LLM server's token counts when it sent them; zeros for extractive answers."""
    used = answer.llm_usage
    if used is None:
        return Usage()
    return Usage(
        prompt_tokens=used.prompt_tokens,
        completion_tokens=used.completion_tokens,
        total_tokens=used.prompt_tokens + used.completion_tokens,
    )


def _turn(message: OpenAIMessage) -> Turn:
    role = "system" if message.role == "developer" else message.role
    if role not in ("system", "user", "assistant"):
        raise InvalidQuestion(f"Unsupported role {message.role!r}.")
    return Turn(role, message.text())


def _chunks(
    items: Iterator[str | Answer], completion_id: str, model: str, http: Request, turns: list[Turn], collection: str
) -> Iterator[str]:
    """A generative answer's draft streams as content deltas while the LLM writes it; the last
    chunk carries the verified `answer` (markers renumbered), `citations`, `annotations` (indexes
    into `answer`), `abstained`, `unsupported` and `usage`. An extractive answer streams its text."""
    created = int(time.time())

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    drafted = False
    try:
        for item in items:
            if isinstance(item, str):
                drafted = True
                yield chunk({"content": item})
                continue
            note_answer(http, item, turns)
            if not drafted:
                for piece in answer_pieces(item.text):
                    yield chunk({"content": piece})
            annotations = [a.model_dump() for a in _annotations(item, str(http.base_url), collection)]
            yield chunk(
                {"annotations": annotations} if annotations else {},
                "stop",
                answer=item.text,
                citations=[CitationOut.from_citation(c).model_dump() for c in item.citations],
                abstained=item.abstained,
                unsupported=item.unsupported,
                short_answer=short.model_dump() if (short := ShortAnswerOut.from_answer(item)) else None,
                usage=_usage(item).model_dump(),
            )
    except AssistantError as error:
        yield f"data: {json.dumps(error_body(http.url.path, 502, str(error), error.code), ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"
