"""Rebuilds cannot lose the index: a killed rebuild leaves the old one serving, queries never see half."""

import os
import signal
import subprocess
import threading
import time

import pytest

from assistant.answering.citations import citation_problems
from tests.conftest import SAMPLE_DOC
from tests.servers import BIN

pytestmark = pytest.mark.slow

QUESTION = "How many representatives participated in the First Congress of World Azerbaijanis?"


def _filler(corpus, count: int, words: int = 300) -> None:
    """Enough extra documents that a rebuild takes seconds: time to interrupt it."""
    for i in range(count):
        body = " ".join(f"Filler{i} sentence number {j} about topic {i * 7 + j}." for j in range(words // 6))
        (corpus / f"filler-{i:03d}.txt").write_text(body)


def test_a_rebuild_killed_midway_leaves_the_old_index_serving(corpus, make_assistant, tmp_path):
    index_dir = tmp_path / "index"
    assistant = make_assistant(corpus, index_dir)
    assistant.indexer().rebuild()
    before = assistant.ask_text(QUESTION)
    old_generation = assistant.catalog.current_generation()

    _filler(corpus, 150)
    env = {**os.environ, "ASSISTANT_SOURCES_DIR": str(corpus.parent), "ASSISTANT_INDEX_DIR": str(index_dir)}
    process = subprocess.Popen([str(BIN / "assistant"), "index"], env=env, stderr=subprocess.DEVNULL)
    new_generation_dir = index_dir / "generations" / "g000002"
    deadline = time.monotonic() + 60
    while not (new_generation_dir / "chroma").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # into the embedding
    assert process.poll() is None, "the rebuild finished before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait()

    assert assistant.catalog.current_generation() == old_generation
    after = assistant.ask_text(QUESTION)
    assert (after.text, after.citations) == (before.text, before.citations)

    report = assistant.indexer().rebuild()
    assert report.added == 150 and report.unchanged == 1 and report.removed == 0
    assert not new_generation_dir.exists(), "the half-built generation is cleaned up"
    assert assistant.handle.current().generation == report.generation


def test_queries_during_a_rebuild_see_the_old_or_the_new_index_never_a_mix(corpus, make_assistant):
    assistant = make_assistant(corpus)
    assistant.indexer().rebuild()
    old_generation = assistant.catalog.current_generation()
    # The new generation changes the answer's source text, so a mix would show in the citations.
    text = (corpus / SAMPLE_DOC).read_text().replace("406 representatives", "407 representatives")
    (corpus / SAMPLE_DOC).write_text(text)
    _filler(corpus, 40)

    seen, errors = [], []
    done = threading.Event()

    def ask_repeatedly():
        while not done.is_set():
            try:
                answer = assistant.ask_text(QUESTION)
                seen.append((answer.generation, answer.text, answer.citations))
            except Exception as error:  # noqa: BLE001 - any error is a failure of this test
                errors.append(repr(error))

    askers = [threading.Thread(target=ask_repeatedly) for _ in range(3)]
    for thread in askers:
        thread.start()
    report = assistant.indexer().rebuild()
    time.sleep(0.5)
    done.set()
    for thread in askers:
        thread.join()

    assert errors == []
    generations = {generation for generation, _, _ in seen}
    assert generations <= {old_generation, report.generation} and report.generation in generations
    texts = {}
    for generation in generations:
        manifest = assistant.catalog.read_manifest(generation)
        texts[generation] = {d: assistant.catalog.read_text(generation, doc) for d, doc in manifest.documents.items()}
    for generation, text, citations in seen:
        assert ("406" in text) if generation == old_generation else ("407" in text)
        assert citation_problems(text, citations, texts[generation]) == [], (text, citations)


def test_two_rebuild_processes_at_once_one_is_refused(corpus, make_assistant, tmp_path):
    index_dir = tmp_path / "index"
    _filler(corpus, 120)
    env = {**os.environ, "ASSISTANT_SOURCES_DIR": str(corpus.parent), "ASSISTANT_INDEX_DIR": str(index_dir)}
    first = subprocess.Popen([str(BIN / "assistant"), "index"], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (index_dir / "generations").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.run([str(BIN / "assistant"), "index"], env=env, capture_output=True, text=True)
    assert first.wait() == 0
    assert second.returncode == 4 and "Another rebuild" in second.stderr
    report = make_assistant(corpus, index_dir).indexer().rebuild()
    assert report.unchanged == 121 and not report.changed
