"""What an attack pass found, each as a test that failed before the fix (issue: hardening, second round)."""

import json
import os
import subprocess
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from assistant.answering.citations import MARKER, citation_problems
from assistant.api import create_app
from assistant.errors import Misconfigured
from tests.conftest import SAMPLE_DOC
from tests.servers import BIN, app_in_thread, free_port, running

KEY = "hardening-key-0123456789"
QUESTION = "How many guests attended the first congress?"
CHAT = {"messages": [{"role": "user", "content": QUESTION}]}


def _local(app) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1")


# -- a symlink swapped in during a rebuild --------------------------------------------------------
def test_a_file_swapped_for_a_symlink_during_a_rebuild_is_not_indexed(corpus, make_assistant, tmp_path, monkeypatch):
    import assistant.index.build as indexing

    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash")
    (corpus / "notes.txt").write_text("The canteen opens at noon.")
    real_load = indexing.load_document

    def swap_then_load(source, **options):
        if source.id == "notes.txt":  # after the scan, before the read
            (corpus / "notes.txt").unlink()
            (corpus / "notes.txt").symlink_to(secret)
        return real_load(source, **options)

    monkeypatch.setattr(indexing, "load_document", swap_then_load)
    assistant = make_assistant(corpus)
    report = assistant.indexer().rebuild()
    assert [s["source"] for s in report.skipped] == ["notes.txt"]
    index = assistant.handle.current()
    assert "notes.txt" not in index.texts
    assert all("root:x" not in text for text in index.texts.values())


# -- a generation that fails to load ------------------------------------------------------------
def test_a_generation_that_cannot_load_leaves_the_serving_one_in_place(corpus, make_assistant):
    assistant = make_assistant(corpus)
    assistant.indexer().rebuild()
    serving = assistant.handle.current()
    catalog = assistant.catalog
    broken = catalog.generation_dir("g000099")
    broken.mkdir(parents=True)
    (broken / "manifest.json").write_text("{not json")
    catalog.switch_to("g000099")
    with _local(create_app(assistant.settings, assistant)) as client:
        for _ in range(5):
            assert client.post("/chat", json=CHAT).status_code == 200
            time.sleep(0.1)
        assert assistant.handle.current() is serving
        # Once the pointer is right again, the server goes on; nothing was closed under it.
        catalog.switch_to(serving.generation)
        assert client.post("/chat", json=CHAT).json()["citations"]


def test_a_new_generation_loads_in_the_background_while_the_old_one_answers(corpus, make_assistant, tmp_path):
    serving_assistant = make_assistant(corpus, tmp_path / "index")
    serving_assistant.indexer().rebuild()
    old = serving_assistant.handle.current()
    # Another process (here, another Assistant on the same directory) rebuilds.
    (corpus / "orchard.txt").write_text("The orchard grows seventeen kinds of apples.")
    make_assistant(corpus, tmp_path / "index").indexer().rebuild()
    assert serving_assistant.handle.current() is old  # answered at once, from what was loaded
    deadline = time.monotonic() + 30
    while serving_assistant.handle.current() is old and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "orchard.txt" in serving_assistant.handle.current().texts


def test_the_new_generation_opened_twice_leaves_the_one_before_readable(corpus, make_assistant, tmp_path):
    """A rebuild's own switch and a request's background switch can both open the new generation;
    requests still reading the one before must keep working (its Chroma client stays open)."""
    from assistant.index.serving import LoadedIndex

    serving = make_assistant(corpus, tmp_path / "index")
    serving.indexer().rebuild()
    before = serving.handle.current()
    (corpus / "orchard.txt").write_text("The orchard grows seventeen kinds of apples.")
    make_assistant(corpus, tmp_path / "index").indexer().rebuild()
    twin = LoadedIndex(serving.catalog, serving.catalog.require_current(), serving.embeddings)
    serving.handle.refresh()  # one switch
    with serving.handle._lock:  # the other, a moment later
        serving.handle._install(twin, serving.catalog.pointer_stamp())
    vector = serving.embeddings.embed_query("first congress")
    assert before.store.query(vector, 3)  # a request that began on the old generation finishes
    assert "orchard.txt" in serving.handle.current().texts


# -- reference markers written in a source ---------------------------------------------------------
WIKI = "The museum closes at 6 pm [2] according to the city council [1]. Entry is free on Sundays [7]."


def test_reference_markers_in_a_source_do_not_become_citation_markers(make_assistant, tmp_path):
    sources = tmp_path / "wiki"
    sources.mkdir()
    (sources / "museum.txt").write_text(WIKI)
    assistant = make_assistant(sources)
    assistant.indexer().rebuild()
    answer = assistant.ask_text("When does the museum close?")
    assert not answer.abstained and "6 pm" in answer.text
    assert {int(n) for n in MARKER.findall(answer.text)} == {c.n for c in answer.citations} == {1}
    assert citation_problems(answer.text, answer.citations, assistant.handle.current().texts) == []
    assert "[2]" in answer.citations[0].text  # the citation still quotes the source exactly


# -- text that is not valid Unicode ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/chat", '{"messages": [{"role": "user", "content": "When \\ud800 was it?"}]}'),
        ("/search", '{"query": "fund \\udfff"}'),
        ("/v1/chat/completions", '{"model": "m", "messages": [{"role": "user", "content": "\\ud800"}]}'),
    ],
)
def test_a_lone_surrogate_is_a_4xx_not_a_500(sample_assistant, path, body):
    with _local(create_app(sample_assistant.settings, sample_assistant)) as client:
        response = client.post(path, content=body, headers={"content-type": "application/json"})
    # 400 under /v1, where OpenAI's clients expect it (BadRequestError); 422 elsewhere.
    assert response.status_code == (400 if path.startswith("/v1/") else 422)
    assert "Unicode" in json.dumps(response.json())


def _cli(args, sources, index, **env):
    environment = {
        **os.environ,
        "ASSISTANT_SOURCES_DIR": str(sources.parent),
        "ASSISTANT_COLLECTION": sources.name,
        "ASSISTANT_INDEX_DIR": str(index),
        **env,
    }
    return subprocess.run([os.fsencode(BIN / "assistant"), *args], capture_output=True, env=environment)


@pytest.mark.slow
def test_the_cli_refuses_undecodable_bytes_with_exit_code_2(corpus, tmp_path):
    index = tmp_path / "index"
    assert _cli(["index"], corpus, index).returncode == 0
    result = _cli(["ask", b"When was the fund \xff\xfe founded?"], corpus, index)
    assert result.returncode == 2
    assert result.stderr.decode().strip().count("\n") == 0 and "Unicode" in result.stderr.decode()


# -- a corrupt pointer or manifest --------------------------------------------------------------------
CORRUPTIONS = {
    "garbage pointer": lambda catalog, generation: catalog.pointer_path().write_text("\x00\xffgarbage"),
    "empty pointer": lambda catalog, generation: catalog.pointer_path().write_text(""),
    "missing generation": lambda catalog, generation: catalog.pointer_path().write_text('{"generation": "g000777"}'),
    "truncated manifest": lambda catalog, generation: (catalog.generation_dir(generation) / "manifest.json").write_text(
        '{"generation": "g0000'
    ),
    "manifest missing a field": lambda catalog, generation: (
        catalog.generation_dir(generation) / "manifest.json"
    ).write_text(json.dumps({"generation": generation})),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_corrupt_index_is_a_503_saying_so_and_a_rebuild_repairs_it(corpus, make_assistant, corruption):
    builder = make_assistant(corpus)
    generation = builder.indexer().rebuild().generation
    CORRUPTIONS[corruption](builder.catalog, generation)
    fresh = make_assistant(corpus)  # a server starting on the damaged index
    with _local(create_app(fresh.settings, fresh)) as client:
        response = client.post("/chat", json=CHAT)
        assert response.status_code == 503
        assert response.json()["code"] == "index_corrupt" and "assistant index" in response.json()["detail"]
        assert client.get("/health").status_code == 503
    report = make_assistant(corpus).indexer().rebuild()
    assert report.changed and report.full
    assert not make_assistant(corpus).ask_text(QUESTION).abstained


@pytest.mark.slow
def test_the_cli_says_the_index_is_corrupt_in_one_line_and_index_repairs_it(corpus, tmp_path):
    index = tmp_path / "index"
    assert _cli(["index"], corpus, index).returncode == 0
    (index / "CURRENT").write_text("{truncated")
    asked = _cli(["ask", QUESTION], corpus, index)
    assert asked.returncode == 3
    lines = asked.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "assistant index" in lines[0]
    assert _cli(["index"], corpus, index).returncode == 0
    assert _cli(["ask", QUESTION], corpus, index).returncode == 0


# -- request bodies -----------------------------------------------------------------------------------
def test_a_chunked_body_over_the_limit_is_a_413(sample_assistant):
    settings = sample_assistant.settings.model_copy(update={"max_body_bytes": 2048})
    with app_in_thread(create_app(settings, sample_assistant)) as url:

        def chunks():
            yield b'{"messages": [{"role": "user", "content": "'
            for _ in range(10):
                yield b"x" * 1000
            yield b'"}]}'

        response = httpx.post(f"{url}/chat", content=chunks(), headers={"content-type": "application/json"})
        assert "content-length" not in {k.lower() for k in response.request.headers}
        assert response.status_code == 413 and response.json()["code"] == "body_too_large"
        small = httpx.post(
            f"{url}/chat", content=iter([json.dumps(CHAT).encode()]), headers={"content-type": "application/json"}
        )
        assert small.status_code == 200


# -- DNS rebinding, forwarded addresses, key guessing (over real HTTP) -------------------------------
def test_keyless_mode_answers_only_loopback_host_names(sample_assistant):
    with app_in_thread(create_app(sample_assistant.settings, sample_assistant)) as url:
        port = url.rsplit(":", 1)[1]
        rebound = httpx.get(f"{url}/sources", headers={"Host": f"evil.example:{port}"})
        assert rebound.status_code == 403 and rebound.json()["code"] == "host_not_allowed"
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
            assert httpx.get(f"{url}/sources", headers={"Host": host}).status_code == 200


def test_with_keys_any_host_name_is_answered_with_a_key(sample_assistant):
    settings = sample_assistant.settings.model_copy(update={"api_keys": KEY})
    with app_in_thread(create_app(settings, sample_assistant)) as url:
        headers = {"Host": "assistant.example.com", "Authorization": f"Bearer {KEY}"}
        assert httpx.get(f"{url}/sources", headers=headers).status_code == 200


@pytest.fixture
def served(sample_assistant):
    """`assistant serve` as users run it, with a small rate limit."""

    def start(**env):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        environment = {
            "ASSISTANT_SOURCES_DIR": str(sample_assistant.settings.sources_dir),
            "ASSISTANT_INDEX_DIR": str(sample_assistant.settings.index_dir),
            "ASSISTANT_RATE_LIMIT_PER_MINUTE": "3",
            **env,
        }
        return url, running([str(BIN / "assistant"), "serve", "--port", str(port)], f"{url}/health", env=environment)

    return start


@pytest.mark.slow
def test_x_forwarded_for_does_not_buy_a_fresh_rate_limit_bucket(served):
    url, server = served()
    with server:
        statuses = [
            httpx.get(f"{url}/sources", headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code for i in range(6)
        ]
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429, 429]


@pytest.mark.slow
def test_wrong_keys_run_into_the_rate_limit(served):
    url, server = served(ASSISTANT_API_KEYS=KEY)
    with server:
        guesses = [
            httpx.get(f"{url}/sources", headers={"Authorization": f"Bearer guess-{i:012d}"}).status_code
            for i in range(6)
        ]
    assert guesses[:3] == [401, 401, 401] and guesses[3:] == [429, 429, 429]


def test_short_api_keys_are_refused_at_start(sample_assistant):
    with pytest.raises(Misconfigured, match="16 characters"):
        create_app(sample_assistant.settings.model_copy(update={"api_keys": f"{KEY},short"}), sample_assistant)


# -- what the sources directory holds -------------------------------------------------------------------
def test_refused_files_are_listed_under_skipped(corpus, make_assistant, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("password=hunter2")
    (corpus / "link.txt").symlink_to(outside)
    (corpus / "huge.txt").write_text("word " * 5000)
    assistant = make_assistant(corpus, max_source_bytes=10_000)
    report = assistant.indexer().rebuild()
    assert sorted(s["source"] for s in report.skipped) == ["huge.txt", "link.txt"]
    with _local(create_app(assistant.settings, assistant)) as client:
        listed = client.get("/sources").json()
    assert sorted(s["source"] for s in listed["skipped"]) == ["huge.txt", "link.txt"]
    assert [s["id"] for s in listed["sources"]] == [SAMPLE_DOC]
    # Nothing changed: the refused files do not make a new generation on every rebuild.
    assert not assistant.indexer().rebuild().changed
