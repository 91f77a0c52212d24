import pytest
from fastapi.testclient import TestClient

from assistant.api import create_app
from tests.conftest import SAMPLE_DOC, stream_events

QUESTION = "How many representatives participated in the First Congress of World Azerbaijanis?"


@pytest.fixture(scope="module")
def client(sample_assistant):
    with TestClient(create_app(sample_assistant.settings, sample_assistant), base_url="http://127.0.0.1") as client:
        yield client


def _ask(client, content, **extra):
    return client.post("/chat", json={"messages": [{"role": "user", "content": content}], **extra})


def test_chat_answers_with_citations_that_match_the_source_text(client):
    response = _ask(client, QUESTION)
    assert response.status_code == 200
    body = response.json()
    assert "406" in body["answer"] and body["abstained"] is False
    text = client.get(f"/sources/{SAMPLE_DOC}/text").text
    for citation in body["citations"]:
        assert f"[{citation['n']}]" in body["answer"]
        assert text[citation["start"] : citation["end"]] == citation["text"]
        assert set(citation) >= {"n", "source", "chunk_id", "start", "end", "text", "score", "page"}


def test_chat_streams_answer_then_citations_then_done(client):
    with client.stream(
        "POST", "/chat", json={"messages": [{"role": "user", "content": QUESTION}], "stream": True}
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = "".join(r.iter_text())
    events = stream_events(raw)
    names = [name for name, _ in events]
    assert names[0] == "answer" and names[-1] == "done"
    assert names.index("citation") > max(i for i, n in enumerate(names) if n == "answer")
    streamed = "".join(data["text"] for name, data in events if name == "answer")
    assert streamed == _ask(client, QUESTION).json()["answer"]


def test_unanswerable_chat_abstains(client):
    body = _ask(client, "What is the boiling point of mercury?").json()
    assert body["abstained"] is True and body["citations"] == [] and body["reason"]


def test_search_returns_ranked_passages_with_exact_offsets(client):
    body = client.post("/search", json={"query": "Support to the Azerbaijan Diaspora Fund", "top_k": 3}).json()
    passages = body["passages"]
    assert 1 <= len(passages) <= 3
    assert [p["score"] for p in passages] == sorted((p["score"] for p in passages), reverse=True)
    assert "Support to the Azerbaijan Diaspora" in passages[0]["text"]
    text = client.get(f"/sources/{SAMPLE_DOC}/text").text
    assert all(text[p["start"] : p["end"]] == p["text"] for p in passages)


def test_health_and_sources_describe_the_index(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["documents"] == 1 and health["chunks"] > 0
    sources = client.get("/sources").json()["sources"]
    assert [s["id"] for s in sources] == [SAMPLE_DOC]
    assert sources[0]["chunks"] == health["chunks"] and len(sources[0]["hash"]) == 64
    assert client.get("/sources/nope.txt/text").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"messages": [{"role": "user", "content": "   "}]}, 422, "empty"),
        ({"messages": []}, 422, "messages"),
        ({"messages": [{"role": "assistant", "content": "Hello"}]}, 422, "user message"),
        ({"messages": [{"role": "wizard", "content": "Hi?"}]}, 422, "role"),
        ({"messages": [{"role": "user", "content": "x" * 5000}]}, 422, "limit"),
        ({"messages": [{"role": "user", "content": "Hi?"}], "top_k": 0}, 422, "top_k"),
        ({"messages": [{"role": "user", "content": "Hi?"}], "top_k": 10_000}, 422, "top_k"),
        ({"question": "Where are the messages?"}, 422, "messages"),
    ],
)
def test_bad_chat_input_gets_a_4xx_with_a_message(client, body, status, words):
    response = client.post("/chat", json=body)
    assert response.status_code == status
    assert words in response.json()["detail"]
    assert response.json()["code"]


def test_malformed_json_is_a_400(client):
    response = client.post("/chat", content=b'{"messages": [', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]


def test_asking_before_any_index_says_to_run_index(make_assistant, corpus, tmp_path):
    assistant = make_assistant(corpus, tmp_path / "never-built")
    with TestClient(create_app(assistant.settings, assistant), base_url="http://127.0.0.1") as client:
        response = _ask(client, QUESTION)
        assert response.status_code == 503
        assert "assistant index" in response.json()["detail"]
        assert client.get("/health").status_code == 503
        assert client.get("/health").json()["status"] == "no_index"
