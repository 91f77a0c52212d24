"""The official openai client, unchanged, against our /v1 endpoint: streaming and not, with citations."""

import httpx
import openai
import pytest

from assistant.api import create_app
from tests.servers import app_in_thread

QUESTION = "When was the Support to the Azerbaijan Diaspora Fund established?"


@pytest.fixture(scope="module")
def client(sample_assistant):
    with app_in_thread(create_app(sample_assistant.settings, sample_assistant)) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key="unused")


def test_models_lists_the_assistant(client):
    assert [m.id for m in client.models.list().data] == ["cited-assistant"]


def test_chat_completion_carries_markers_and_citations(client, sample_assistant):
    completion = client.chat.completions.create(
        model="cited-assistant",
        messages=[{"role": "system", "content": "You are helpful."}, {"role": "user", "content": QUESTION}],
    )
    message = completion.choices[0].message
    assert "July 6, 2018" in message.content and "[1]" in message.content
    citations = message.model_extra["citations"]
    texts = sample_assistant.handle.current().texts
    assert citations and all(texts[c["source"]][c["start"] : c["end"]] == c["text"] for c in citations)
    assert message.model_extra["abstained"] is False


def test_citations_are_also_openai_annotations_pointing_at_the_document_text(client, sample_assistant):
    completion = client.chat.completions.create(
        model="cited-assistant", messages=[{"role": "user", "content": QUESTION}], extra_body={"top_k": 3}
    )
    message = completion.choices[0].message
    assert completion.usage.total_tokens == 0  # extractive: no LLM, no tokens
    assert message.annotations, "no annotations"
    citations = {c["n"]: c for c in message.model_extra["citations"]}
    for annotation in message.annotations:
        marker = message.content[annotation.url_citation.start_index : annotation.url_citation.end_index]
        citation = citations[int(marker.strip("[]"))]
        document = httpx.get(annotation.url_citation.url).text  # the URL is fetched as given
        span = annotation.url_citation.url.rsplit("#chars=", 1)[1]
        start, end = (int(x) for x in span.split("-"))
        assert document[start:end] == citation["text"] and annotation.url_citation.title == citation["source"]


def test_streaming_yields_text_then_a_final_chunk_with_citations(client):
    stream = client.chat.completions.create(
        model="cited-assistant", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "July 6, 2018" in text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["citations"][0]["n"] == 1


def test_follow_ups_use_the_conversation(client):
    completion = client.chat.completions.create(
        model="cited-assistant",
        messages=[
            {"role": "user", "content": "What is the Support to the Azerbaijan Diaspora Fund?"},
            {"role": "assistant", "content": "A fund for diaspora building."},
            {"role": "user", "content": "And when was it founded?"},
        ],
    )
    assert "July 6, 2018" in completion.choices[0].message.content


def test_bad_requests_raise_the_clients_own_errors_with_our_message(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="cited-assistant", messages=[{"role": "user", "content": "  "}])
    assert raised.value.body == {
        "message": "The question is empty.",
        "type": "invalid_request_error",
        "code": "invalid_question",
        "param": None,
    }
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="cited-assistant", messages=[])
    assert "messages" in raised.value.message
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model="cited-assistant", messages=[{"role": "user", "content": QUESTION}], extra_body={"top_k": 0}
        )
    assert "top_k must be between 1 and" in raised.value.message


def test_filter_and_collection_travel_in_extra_body(client):
    def ask(**extra):
        completion = client.chat.completions.create(
            model="cited-assistant", messages=[{"role": "user", "content": QUESTION}], extra_body=extra
        )
        return completion.choices[0].message

    kept = ask(filter={"source": {"prefix": "news-az"}, "kind": "txt"}, collection="default")
    assert not kept.model_extra["abstained"] and "July 6, 2018" in kept.content
    excluded = ask(filter={"kind": {"in": ["pdf", "docx"]}})
    assert excluded.model_extra["abstained"] and excluded.model_extra["citations"] == []
    with pytest.raises(openai.BadRequestError, match="filter.kind"):
        ask(filter={"kind": {"like": "txt"}})
    with pytest.raises(openai.NotFoundError, match="No collection 'elsewhere'"):
        ask(collection="elsewhere")
