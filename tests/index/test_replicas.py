"""Replicas: two `assistant serve` processes on one `chroma run` server and one catalog folder.

A rebuild through one replica must reach the other within seconds, with no request failing on
either while the generation switches.
"""

import os
import subprocess
import threading
import time

import httpx
import pytest

from tests.servers import BIN, chroma_server, free_port, running

pytestmark = [pytest.mark.server, pytest.mark.slow]

KEY = "r" * 32
AUTH = {"Authorization": f"Bearer {KEY}"}
SAMPLE_QUESTION = "How many representatives participated in the First Congress of World Azerbaijanis?"
NEW_QUESTION = "How many kinds of apples grow in the orchard?"
NEW_DOCUMENT = "The orchard in the valley grows seventeen kinds of apples. Harvest starts in September."


def _ask(http: httpx.Client, url: str, question: str) -> httpx.Response:
    body = {"messages": [{"role": "user", "content": question}]}
    return http.post(f"{url}/chat", json=body, headers=AUTH)


def test_a_rebuild_through_one_replica_reaches_both_with_no_failed_request(corpus, tmp_path):
    with chroma_server(tmp_path / "chroma-data") as chroma:
        env = {
            "ASSISTANT_SOURCES_DIR": str(corpus.parent),
            "ASSISTANT_INDEX_DIR": str(tmp_path / "shared-catalog"),
            "ASSISTANT_CHROMA_URL": chroma,
            "ASSISTANT_API_KEYS": KEY,
            "ASSISTANT_RATE_LIMIT_PER_MINUTE": "1000000",
        }
        subprocess.run([str(BIN / "assistant"), "index"], env={**os.environ, **env}, check=True)
        urls = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
        serve = [[str(BIN / "assistant"), "serve", "--port", url.rsplit(":", 1)[1]] for url in urls]
        with (
            running(serve[0], f"{urls[0]}/livez", env, log=tmp_path / "replica-a.log"),
            running(serve[1], f"{urls[1]}/livez", env, log=tmp_path / "replica-b.log"),
            httpx.Client(timeout=60) as http,
        ):
            for url in urls:
                assert _ask(http, url, NEW_QUESTION).json()["abstained"] is True
            before = {http.get(f"{url}/health").json()["generation"] for url in urls}
            assert len(before) == 1

            # Questions spread over both replicas for the whole switch.
            outcomes: list[tuple[str, int]] = []
            stop = threading.Event()

            def ask_both(offset: int) -> None:
                with httpx.Client(timeout=60) as own:
                    i = offset
                    while not stop.is_set():
                        url = urls[i % 2]
                        question = (SAMPLE_QUESTION, NEW_QUESTION)[(i // 2) % 2]
                        outcomes.append((url, _ask(own, url, question).status_code))
                        i += 1

            askers = [threading.Thread(target=ask_both, args=(n,)) for n in range(2)]
            for asker in askers:
                asker.start()
            try:
                (corpus / "orchard.txt").write_text(NEW_DOCUMENT)
                rebuilt = http.post(f"{urls[0]}/index?wait=true", headers=AUTH, timeout=300)
                assert rebuilt.status_code == 200, rebuilt.text
                generation = rebuilt.json()["report"]["generation"]
                assert generation not in before
                switched = time.monotonic()
                while {http.get(f"{url}/health").json()["generation"] for url in urls} != {generation}:
                    assert time.monotonic() - switched < 10, "a replica did not follow the rebuild in 10 s"
                    time.sleep(0.1)
                time.sleep(1)  # keep asking on the new generation for a moment
            finally:
                stop.set()
                for asker in askers:
                    asker.join()

            assert len(outcomes) > 20
            failed = [outcome for outcome in outcomes if outcome[1] != 200]
            assert failed == [], failed[:5]
            assert {url for url, _ in outcomes} == set(urls)
            for url in urls:
                answer = _ask(http, url, NEW_QUESTION).json()
                assert "seventeen" in answer["answer"] and answer["citations"][0]["source"] == "orchard.txt"
