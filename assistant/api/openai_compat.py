"""An OpenAI-compatible chat endpoint, so existing clients (openai SDK, ChatOpenAI, chat UIs) work.

The answer text carries the `[n]` markers; citations travel in an extra `citations` field on the
message (and on the final chunk when streaming).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from assistant.answering.types import Answer
from assistant.api.deps import AssistantDep, CallerDep
from assistant.api.routes import ERRORS, answer_pieces
from assistant.api.schemas import CitationOut
from assistant.errors import InvalidQuestion
from assistant.retrieval import Turn

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


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    citations: list[CitationOut] = Field(description="Targets of the `[n]` markers in `content` (extension).")
    abstained: bool = Field(description="True when the sources do not answer (extension).")
    unsupported: list[int] = Field(description="Answer sentences no citation supports (extension).")


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


@router.get("/models", response_model=ModelList)
def models(_: CallerDep) -> ModelList:
    return ModelList(data=[ModelCard(id=MODEL_ID)])


@router.post("/chat/completions", response_model=ChatCompletion, responses={**ERRORS, **STREAM})
def chat_completions(request: CompletionRequest, assistant: AssistantDep, _: CallerDep):
    """OpenAI chat completions over the sources; `[n]` markers in the text, citations beside it."""
    turns = [_turn(m) for m in request.messages if m.role in ("system", "developer", "user", "assistant")]
    answer = assistant.ask(turns)
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    if request.stream:
        return StreamingResponse(_chunks(answer, completion_id, request.model), media_type="text/event-stream")
    message = AssistantMessage(
        content=answer.text,
        citations=[CitationOut.from_citation(c) for c in answer.citations],
        abstained=answer.abstained,
        unsupported=answer.unsupported,
    )
    return ChatCompletion(
        id=completion_id, created=int(time.time()), model=request.model, choices=[Choice(message=message)]
    )


def _turn(message: OpenAIMessage) -> Turn:
    role = "system" if message.role == "developer" else message.role
    if role not in ("system", "user", "assistant"):
        raise InvalidQuestion(f"Unsupported role {message.role!r}.")
    return Turn(role, message.text())


def _chunks(answer: Answer, completion_id: str, model: str) -> Iterator[str]:
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
    for piece in answer_pieces(answer.text):
        yield chunk({"content": piece})
    citations = [CitationOut.from_citation(c).model_dump() for c in answer.citations]
    yield chunk({}, "stop", citations=citations, abstained=answer.abstained, unsupported=answer.unsupported)
    yield "data: [DONE]\n\n"
