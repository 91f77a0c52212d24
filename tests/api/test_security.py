"""Access control and request limits: keys, rebuild over HTTP, rate limits, body size, bind address."""

import pytest
from fastapi.testclient import TestClient

from assistant.api import create_app
from assistant.errors import InsecureBinding
from assistant.service.assembly import build_assistant

ALPHA, BETA = "alpha-key-0123456789abcdef", "beta-key-0123456789abcdef"
QUESTION = {"messages": [{"role": "user", "content": "Where was the first congress held?"}]}


@pytest.fixture
def keyed(sample_assistant):
    settings = sample_assistant.settings.model_copy(
        update={"api_keys": f"{ALPHA}, {BETA}", "rate_limit_per_minute": 600}
    )
    with TestClient(create_app(settings, sample_assistant), base_url="http://127.0.0.1") as client:
        yield client


def test_keys_are_required_when_configured(keyed):
    assert keyed.post("/chat", json=QUESTION).status_code == 401
    assert keyed.post("/chat", json=QUESTION, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert keyed.post("/chat", json=QUESTION, headers={"Authorization": f"Bearer {BETA}"}).status_code == 200
    assert keyed.get("/sources", headers={"Authorization": f"Bearer {ALPHA}"}).status_code == 200
    assert keyed.get("/health").status_code == 200  # probes need no key


def test_rebuild_over_http_always_needs_a_key(sample_assistant, keyed):
    with TestClient(
        create_app(sample_assistant.settings, sample_assistant), base_url="http://127.0.0.1"
    ) as open_client:
        refused = open_client.post("/index")
        assert refused.status_code == 403 and "ASSISTANT_API_KEYS" in refused.json()["detail"]
    assert keyed.post("/index").status_code == 401
    job = keyed.post("/index?wait=true", headers={"Authorization": f"Bearer {ALPHA}"})
    assert job.status_code == 200 and job.json()["state"] == "done"
    report = job.json()["report"]
    assert report["changed"] is False and report["unchanged"] == 1


def test_rate_limit_answers_429_with_retry_after(sample_assistant):
    settings = sample_assistant.settings.model_copy(update={"api_keys": f"{ALPHA},{BETA}", "rate_limit_per_minute": 3})
    with TestClient(create_app(settings, sample_assistant), base_url="http://127.0.0.1") as client:
        first_key = [client.get("/sources", headers={"Authorization": f"Bearer {ALPHA}"}).status_code for _ in range(4)]
        assert first_key == [200, 200, 200, 429]
        limited = client.get("/sources", headers={"Authorization": f"Bearer {ALPHA}"})
        assert int(limited.headers["Retry-After"]) >= 1
        # Limits are per key: another key still gets through.
        assert client.get("/sources", headers={"Authorization": f"Bearer {BETA}"}).status_code == 200


def test_oversized_bodies_get_413(sample_assistant):
    settings = sample_assistant.settings.model_copy(update={"max_body_bytes": 2048})
    with TestClient(create_app(settings, sample_assistant), base_url="http://127.0.0.1") as client:
        big = {"messages": [{"role": "user", "content": "x" * 4000}]}
        response = client.post("/chat", json=big)
        assert response.status_code == 413 and response.json()["code"] == "body_too_large"


def test_too_many_messages_is_a_422(sample_assistant):
    settings = sample_assistant.settings.model_copy(update={"max_messages": 3})
    assistant = build_assistant(settings, embeddings=sample_assistant.embeddings)
    with TestClient(create_app(settings, assistant), base_url="http://127.0.0.1") as client:
        messages = [{"role": "user", "content": "Hi?"}] * 4
        response = client.post("/chat", json={"messages": messages})
        assert response.status_code == 422 and "limit is 3" in response.json()["detail"]


def test_serving_beyond_loopback_needs_keys(sample_assistant):
    with pytest.raises(InsecureBinding, match="ASSISTANT_API_KEYS"):
        create_app(sample_assistant.settings.model_copy(update={"host": "0.0.0.0"}), sample_assistant)
    keyed = sample_assistant.settings.model_copy(update={"host": "0.0.0.0", "api_keys": ALPHA})
    assert create_app(keyed, sample_assistant) is not None
