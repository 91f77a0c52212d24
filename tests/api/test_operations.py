"""What operators rely on: probes, Prometheus metrics, request ids in JSON logs, CORS, the
LangChain retriever, and --version."""

import json
import os
import subprocess

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from assistant import __version__
from assistant.api import create_app
from tests.conftest import SAMPLE_SOURCES
from tests.servers import BIN, free_port, wait_until_up

ANSWERABLE = "How many representatives participated in the First Congress of World Azerbaijanis?"
UNANSWERABLE = "What is the boiling point of liquid nitrogen?"


def _client(assistant, **overrides):
    settings = assistant.settings.model_copy(update=overrides)
    return TestClient(create_app(settings, assistant), base_url="http://127.0.0.1")


def _ask(client, question, **headers):
    return client.post("/chat", json={"messages": [{"role": "user", "content": question}]}, headers=headers)


def test_probes_with_the_index_missing(corpus, make_assistant):
    with _client(make_assistant(corpus)) as client:
        assert client.get("/livez").json() == {"status": "alive", "detail": None}
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "not_ready"
        assert "assistant index" in ready.json()["detail"]


def test_probes_with_the_llm_down(embeddings, sample_assistant):
    from assistant.service.assembly import build_assistant

    dead = f"http://127.0.0.1:{free_port()}/v1"
    for fallback, ready_status in ((False, 503), (True, 200)):
        settings = sample_assistant.settings.model_copy(
            update={"llm_base_url": dead, "llm_timeout_seconds": 2, "llm_fallback_extractive": fallback}
        )
        assistant = build_assistant(settings, embeddings=embeddings)
        with TestClient(create_app(settings, assistant), base_url="http://127.0.0.1") as client:
            assert client.get("/livez").status_code == 200  # a liveness probe must not restart it
            ready = client.get("/readyz")
            assert ready.status_code == ready_status
            if not fallback:
                assert "unreachable" in ready.json()["detail"]


def test_probes_ready(sample_assistant):
    with _client(sample_assistant) as client:
        assert client.get("/readyz").json() == {"status": "ready", "detail": None}


def _families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def _value(family, **labels) -> float:
    return sum(s.value for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items()))


def test_metrics_count_requests_answers_and_describe_the_index(sample_assistant):
    with _client(sample_assistant) as client:
        assert _ask(client, ANSWERABLE).json()["abstained"] is False
        assert _ask(client, UNANSWERABLE).json()["abstained"] is True
        assert client.post("/chat", json={"messages": []}).status_code == 422
        response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    families = _families(response.text)
    requests = families["assistant_requests"]
    assert _value(requests, route="/chat", status="200", method="POST") == 2
    assert _value(requests, route="/chat", status="422") == 1
    latency = families["assistant_request_duration_seconds"]
    assert any(s.name.endswith("_count") and s.labels["route"] == "/chat" and s.value == 3 for s in latency.samples)
    answers = families["assistant_answers"]
    assert _value(answers, outcome="answered") == 1 and _value(answers, outcome="abstained") == 1
    stages = families["assistant_answer_stage_seconds"]
    assert {s.labels["stage"] for s in stages.samples} == {"retrieval", "answer"}  # no LLM asked
    index = sample_assistant.handle.current()
    assert _value(families["assistant_index_documents"]) == len(index.manifest.documents)
    assert _value(families["assistant_index_chunks"]) == len(index.chunks)
    assert [s.labels["generation"] for s in families["assistant_index_generation"].samples] == [index.generation]


def test_rebuilds_are_timed_and_failures_counted(corpus, make_assistant):
    assistant = make_assistant(corpus, api_keys="k" * 32)
    auth = {"Authorization": f"Bearer {'k' * 32}"}
    with _client(assistant) as client:
        assert client.post("/index?wait=true", headers=auth).status_code == 200
        for path in corpus.iterdir():
            path.unlink()
        corpus.rmdir()
        assert client.post("/index?wait=true", headers=auth).status_code == 503
        families = _families(client.get("/metrics", headers=auth).text)
    assert any(
        s.name.endswith("_count") and s.value == 1 for s in families["assistant_rebuild_duration_seconds"].samples
    )
    assert _value(families["assistant_rebuild_failures"]) == 1


def test_metrics_need_the_key_when_keys_are_set_and_can_be_turned_off(sample_assistant):
    key = "m" * 32
    with _client(sample_assistant, api_keys=key) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert client.get("/livez").status_code == 200  # probes stay open: orchestrators send no key
    with _client(sample_assistant, metrics=False) as client:
        assert client.get("/metrics").status_code == 404


def test_request_ids_are_echoed_or_made(sample_assistant):
    with _client(sample_assistant) as client:
        assert _ask(client, ANSWERABLE, **{"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
        made = client.get("/livez").headers["x-request-id"]
        assert len(made) == 32 and made != client.get("/livez").headers["x-request-id"]
        # Not a safe token: replaced, never echoed into logs or headers.
        assert client.get("/livez", headers={"X-Request-ID": "a b\tc"}).headers["x-request-id"] != "a b\tc"


def test_cors_is_off_by_default_and_allows_only_the_origins_named(sample_assistant):
    preflight = {"Origin": "https://wiki.example", "Access-Control-Request-Method": "POST"}
    with _client(sample_assistant) as client:
        assert "access-control-allow-origin" not in _ask(client, ANSWERABLE, Origin="https://wiki.example").headers
    with _client(sample_assistant, cors_origins="https://wiki.example") as client:
        assert (
            client.options("/chat", headers=preflight).headers["access-control-allow-origin"] == "https://wiki.example"
        )
        allowed = _ask(client, ANSWERABLE, Origin="https://wiki.example")
        assert allowed.headers["access-control-allow-origin"] == "https://wiki.example"
        other = _ask(client, ANSWERABLE, Origin="https://evil.example")
        assert "access-control-allow-origin" not in other.headers


@pytest.mark.server
def test_json_logs_carry_the_request_id_and_leave_questions_out(sample_assistant, tmp_path):
    """A real `assistant serve`: one JSON line per request, with the id the client sent."""
    port = free_port()
    env = {
        "ASSISTANT_SOURCES_DIR": str(SAMPLE_SOURCES),
        "ASSISTANT_INDEX_DIR": str(sample_assistant.settings.index_dir),
        "ASSISTANT_LOG_FORMAT": "json",
    }
    log = tmp_path / "serve.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [str(BIN / "assistant"), "serve", "--port", str(port)],
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/livez", process)
            body = {"messages": [{"role": "user", "content": ANSWERABLE}]}
            response = httpx.post(
                f"http://127.0.0.1:{port}/chat", json=body, headers={"X-Request-ID": "trace-42"}, timeout=60
            )
            assert response.status_code == 200 and response.headers["x-request-id"] == "trace-42"
        finally:
            process.terminate()
            process.wait(timeout=10)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert lines, log.read_text()[-2000:]
    (chat,) = [line for line in lines if line.get("request_id") == "trace-42" and line.get("path") == "/chat"]
    assert chat["status"] == 200 and chat["route"] == "/chat" and chat["abstained"] is False
    assert chat["duration_ms"] > 0 and "retrieval_ms" in chat and "question" not in chat
    assert ANSWERABLE not in log.read_text()


def test_the_retriever_works_in_an_lcel_chain(sample_assistant):
    from langchain_core.prompts import PromptTemplate
    from langchain_core.runnables import RunnableLambda, RunnablePassthrough

    from assistant.langchain import AssistantRetriever

    retriever = AssistantRetriever(assistant=sample_assistant, top_k=3)
    documents = retriever.invoke(ANSWERABLE)
    assert len(documents) == 3
    texts = sample_assistant.handle.current().texts
    for document in documents:
        meta = document.metadata
        assert texts[meta["source"]][meta["start"] : meta["end"]] == document.page_content
        assert {"page", "score", "chunk_id", "title"} <= set(meta)
    assert "406" in documents[0].page_content

    def cite(docs):
        return "\n".join(f"[{d.metadata['source']}:{d.metadata['start']}] {d.page_content}" for d in docs)

    chain = {
        "context": retriever | RunnableLambda(cite),
        "question": RunnablePassthrough(),
    } | PromptTemplate.from_template("Answer from:\n{context}\n\nQ: {question}")
    prompt = chain.invoke(ANSWERABLE).to_string()
    assert "406" in prompt and f"[{documents[0].metadata['source']}:" in prompt and prompt.endswith(ANSWERABLE)


def test_version():
    result = subprocess.run([str(BIN / "assistant"), "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"assistant {__version__}" and __version__ == "0.1.0"
