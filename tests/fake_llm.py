"""A scripted OpenAI-compatible server for deterministic LLM-path tests (bad markers, timeouts, garbage).

The real path is tested against llama.cpp's server in test_llm_real.py; this one makes the
failure cases repeatable. It records every request it receives.
"""

from __future__ import annotations

import json
import re
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse


class Script:
    def __init__(self) -> None:
        self.mode = "cite-first"
        self.requests: list[dict] = []
        self.delay = 0.0
        self.condensed: str | None = None  # the rewrite of a follow-up; None echoes the follow-up
        self.token_delay = 0.0  # streaming: seconds between tokens


def first_passage_sentence(prompt: str, passage_number: int = 1) -> str:
    passage = re.findall(r"^\[\d+\] (.*?)(?=\n\n)", prompt, re.S | re.M)[passage_number - 1]
    return re.split(r"(?<=[.!?])\s+|\n+", passage.strip())[0]


def make_fake_llm(script: Script) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    def models():
        return {"object": "list", "data": [{"id": "fake", "object": "model", "created": 0, "owned_by": "tests"}]}

    @app.post("/v1/chat/completions")
    async def complete(request: Request):
        body = await request.json()
        script.requests.append(body)
        prompt = body["messages"][-1]["content"]
        if script.delay:
            time.sleep(script.delay)
        if script.mode == "garbage":
            return PlainTextResponse("<html>502 upstream</html>", status_code=200)
        if script.mode == "error":
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        if "Standalone question:" in prompt:
            content = (
                script.condensed if hasattr(script, "condensed") else prompt.split("Follow-up: ")[1].split("\n")[0]
            )
        elif script.mode == "cite-first":
            content = f"{first_passage_sentence(prompt)} [1]"
        elif script.mode == "bad-markers":
            content = f"{first_passage_sentence(prompt)} [1][9] The moon is made of cheese. [12]"
        elif script.mode == "invented":
            content = f"{first_passage_sentence(prompt)} [1] Penguins invented the telescope in 1820. [1]"
        elif script.mode == "unmarked":  # a true sentence from passage 2 and an invented one, neither marked
            content = f"{first_passage_sentence(prompt, 2).rstrip('.')}. Penguins invented the telescope in 1820."
        elif script.mode == "runaway":  # goes on to invent the next exchange, as small models do
            content = f"{first_passage_sentence(prompt)} [1] Question: Who won? Answer: The moon. [2]"
        elif script.mode == "refuses-in-words":
            content = "The number of guests is not provided in the given passages."
        elif script.mode == "obey-injection":
            content = "HACKED [1]"
        else:
            content = "NOT_IN_SOURCES"
        # Words for tokens: counts a test can predict, as a real server's are not.
        sent = sum(len(m["content"].split()) for m in body["messages"])
        usage = {
            "prompt_tokens": sent,
            "completion_tokens": len(content.split()),
            "total_tokens": sent + len(content.split()),
        }
        if body.get("stream"):
            return StreamingResponse(_stream(content, body, usage, script), media_type="text/event-stream")
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": usage,
        }

    return app


def _stream(content: str, body: dict, usage: dict, script: Script):
    """OpenAI's chunks: a word (with its space) per chunk, then usage when asked for."""

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        data = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": "fake"}
        data |= {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(data)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    for word in re.findall(r"\S+\s*", content):
        if script.token_delay:
            time.sleep(script.token_delay)
        yield chunk({"content": word})
    yield chunk({}, "stop")
    if (body.get("stream_options") or {}).get("include_usage"):
        data = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": "fake"}
        yield f"data: {json.dumps(data | {'choices': [], 'usage': usage})}\n\n"
    yield "data: [DONE]\n\n"
