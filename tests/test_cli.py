"""The `assistant` command as a user runs it: real processes, env-var settings, exit codes."""

import json
import os
import signal
import subprocess

import httpx
import pytest

from tests.servers import BIN, free_port, running

pytestmark = pytest.mark.slow


def _run(args, sources, index, **env):
    environment = {
        **os.environ,
        "ASSISTANT_SOURCES_DIR": str(sources.parent),
        "ASSISTANT_COLLECTION": sources.name,
        "ASSISTANT_INDEX_DIR": str(index),
        **env,
    }
    return subprocess.run([str(BIN / "assistant"), *args], capture_output=True, text=True, env=environment)


def test_index_then_ask_json_matches_the_chat_schema(corpus, tmp_path):
    index = tmp_path / "index"
    built = _run(["index", "--json"], corpus, index)
    assert built.returncode == 0, built.stderr
    report = json.loads(built.stdout)
    assert report["added"] == 1 and report["chunks"] > 0 and "seconds" in report

    again = json.loads(_run(["index", "--json"], corpus, index).stdout)
    assert (again["unchanged"], again["embedded"], again["changed"]) == (1, 0, False)

    asked = _run(["ask", "--json", "When was the Support to the Azerbaijan Diaspora Fund established?"], corpus, index)
    assert asked.returncode == 0, asked.stderr
    body = json.loads(asked.stdout)
    fields = {"answer", "citations", "abstained", "reason", "unsupported", "unsupported_text", "short_answer"}
    assert set(body) == fields
    assert "July 6, 2018" in body["answer"]
    assert body["short_answer"]["text"] == "July 6, 2018"
    text = (corpus / body["citations"][0]["source"]).read_text()
    assert all(text[c["start"] : c["end"]] == c["text"] for c in body["citations"])


def test_asking_without_an_index_fails_with_one_line(corpus, tmp_path):
    result = _run(["ask", "Anything?"], corpus, tmp_path / "missing")
    assert result.returncode == 3
    expected = f"error: No index in {tmp_path / 'missing'}: run `assistant index` first."
    assert result.stderr.strip().splitlines() == [expected]


def test_commands_work_on_the_collection_named(corpus, tmp_path):
    index = tmp_path / "index"
    (corpus.parent / "hr").mkdir()
    (corpus.parent / "hr" / "leave.txt").write_text("Staff get 25 days of paid leave a year.")
    built = json.loads(_run(["index", "--json", "--collection", "hr"], corpus, index).stdout)
    assert built["added"] == 1 and (index / "collections" / "hr" / "CURRENT").exists()
    asked = _run(["ask", "--json", "-c", "hr", "How many days of paid leave do staff get?"], corpus, index)
    assert "25 days" in json.loads(asked.stdout)["answer"]
    missing = _run(["ask", "--collection", "legal", "Anything?"], corpus, index)
    assert missing.returncode == 3 and "No index" in missing.stderr
    bad = _run(["index", "--collection", "../etc"], corpus, index)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not valid" in bad.stderr


def test_empty_question_is_refused_with_exit_code_2(corpus, tmp_path):
    index = tmp_path / "index"
    _run(["index"], corpus, index)
    result = _run(["ask", "   "], corpus, index)
    assert result.returncode == 2 and "empty" in result.stderr


def test_serve_answers_over_real_http_and_streams(corpus, tmp_path):
    index = tmp_path / "index"
    _run(["index"], corpus, index)
    port = free_port()
    env = {"ASSISTANT_SOURCES_DIR": str(corpus.parent), "ASSISTANT_INDEX_DIR": str(index)}
    url = f"http://127.0.0.1:{port}"
    with running([str(BIN / "assistant"), "serve", "--port", str(port)], f"{url}/health", env=env):
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
        messages = [{"role": "user", "content": "Where was the first congress of world Azerbaijanis held?"}]
        body = httpx.post(f"{url}/chat", json={"messages": messages}, timeout=30).json()
        assert "Baku" in body["answer"]
        with httpx.stream("POST", f"{url}/chat", json={"messages": messages, "stream": True}, timeout=30) as response:
            events = [line.removeprefix("event: ") for line in response.iter_lines() if line.startswith("event: ")]
        assert events[0] == "answer" and "citation" in events and events[-1] == "done"


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_stops_cleanly_on_ctrl_c_or_sigterm(corpus, tmp_path, stop):
    """Ctrl-C on `make run` (or a service manager's SIGTERM) shuts the server down with exit
    status 0 and no traceback, so make prints no error line."""
    index = tmp_path / "index"
    _run(["index"], corpus, index)
    port = free_port()
    env = {"ASSISTANT_SOURCES_DIR": str(corpus.parent), "ASSISTANT_INDEX_DIR": str(index)}
    log = tmp_path / "serve.log"
    url = f"http://127.0.0.1:{port}"
    with running([str(BIN / "assistant"), "serve", "--port", str(port)], f"{url}/livez", env=env, log=log) as server:
        server.send_signal(stop)
        assert server.wait(timeout=30) == 0
    output = log.read_text()
    assert "Traceback" not in output and "Aborted" not in output
    assert "Application shutdown complete" in output  # it shut down, it was not killed
