"""Hardening, third round: the documents API under attack (issue items by number)."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from assistant.errors import CollectionExists, InvalidQuestion, UploadRefused
from assistant.evaluation import gate
from assistant.index.filters import DocumentFilter
from assistant.ingest import uploads
from assistant.ingest.uploads import SourceChange, check_content, name_conflicts, parse_metadata, safe_name
from assistant.service.collections import Library, check_name
from assistant.settings import Settings
from tests.conftest import REPO


# 3. Zip members that lie about their size.
def _liar_docx(inflated: int) -> bytes:
    """A .docx whose [Content_Types].xml says 1 KB and inflates to `inflated` bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"<w:document/>")
        with archive.open("[Content_Types].xml", "w") as member:
            piece = b"<a/>" * (1 << 18)
            for _ in range(inflated // len(piece)):
                member.write(piece)
    data = bytearray(buffer.getvalue())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("[Content_Types].xml")
    # The uncompressed size in its local header and in its central directory entry (the last one).
    for offset in (info.header_offset + 22, data.rfind(b"PK\x01\x02") + 24):
        struct.pack_into("<I", data, offset, 1024)
    return bytes(data)


def test_a_member_that_lies_about_its_size_is_refused_within_bounded_memory(tmp_path: Path):
    liar = tmp_path / "liar.docx"
    liar.write_bytes(_liar_docx(300 << 20))
    script = (
        "import resource, sys\n"
        "from assistant.ingest import uploads\n"
        "from assistant.errors import UploadRefused\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n    uploads.check_content('liar.docx', data)\n    print('accepted')\n"
        "except UploadRefused as error:\n    print('refused', error.status, error)\n"
        "print('grew_mb', (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(liar)], cwd=REPO, capture_output=True, text=True)
    assert done.stdout.startswith("refused"), done.stdout + done.stderr
    grew = int(done.stdout.split("grew_mb")[1])
    print(f"\nitem 3: {done.stdout.splitlines()[0]}; memory grew {grew} MB")
    assert grew < 64, f"checking the upload took {grew} MB more"


# 7. A file replaces a folder of documents (and the reverse).
def test_a_name_that_turns_a_folder_into_a_file_or_back_is_a_conflict(tmp_path: Path):
    (tmp_path / "x.txt").mkdir()
    (tmp_path / "x.txt" / "inner1.txt").write_text("one")
    (tmp_path / "aa.txt").write_text("v1")
    assert name_conflicts(tmp_path, ["x.txt"]) == ["x.txt is a folder of documents; delete them first"]
    assert name_conflicts(tmp_path, ["aa.txt/under.txt"]) == [
        "aa.txt/under.txt would go under aa.txt, which is a document"
    ]
    assert name_conflicts(tmp_path, ["n.txt", "n.txt/b.txt"]) == [
        "n.txt/b.txt would go under n.txt, which is a document"
    ]
    assert name_conflicts(tmp_path, ["x.txt/inner2.txt", "aa.txt"]) == []


# 6. A failed job restores the folder, whatever step failed.
def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".incoming" not in p.parts
    }


@pytest.mark.parametrize("failing_step", range(6))
def test_undo_puts_the_folder_back_whichever_step_failed(tmp_path: Path, monkeypatch, failing_step):
    sources = tmp_path / "sources"
    (sources / "x.txt").mkdir(parents=True)
    (sources / "aa.txt").write_text("v1")
    (sources / "x.txt" / "keep.txt").write_text("kept")
    (sources / ".metadata").mkdir()
    (sources / ".metadata" / "aa.txt.json").write_text('{"title": "old"}')
    before = _tree(sources)
    change = SourceChange(sources, sources / ".incoming" / "job")
    change.stage("aa.txt", b"v2", {"title": "new"})
    change.stage("new.txt", b"fresh", {})
    calls = {"n": 0}
    real_replace = os.replace

    def flaky_replace(source, target):
        calls["n"] += 1
        if calls["n"] == failing_step + 1:
            raise OSError(5, "injected failure")
        return real_replace(source, target)

    monkeypatch.setattr(uploads.os, "replace", flaky_replace)
    with pytest.raises(OSError):
        change.place_staged()
    monkeypatch.setattr(uploads.os, "replace", real_replace)
    change.undo()
    assert _tree(sources) == before


def test_undo_carries_on_past_a_step_that_cannot_be_undone(tmp_path: Path):
    """Item 6's repro: a staged path under an existing file fails with NotADirectoryError."""
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "aa.txt").write_text("v1")
    (sources / "x.txt").write_text("a file")
    before = _tree(sources)
    change = SourceChange(sources, sources / ".incoming" / "job")
    change.stage("aa.txt", b"v2", {})
    change.stage("x.txt/under.txt", b"under", {})
    with pytest.raises(OSError):
        change.place_staged()
    change.undo()
    assert _tree(sources) == before


# 9. Lone surrogates; 12. deep metadata; 14. limits enforced at upload.
def test_a_lone_surrogate_in_metadata_or_a_filter_is_refused():
    with pytest.raises(UploadRefused) as refused:
        parse_metadata(json.dumps({"title": "\ud800"}, ensure_ascii=True))
    assert refused.value.status == 422
    with pytest.raises(UploadRefused):
        parse_metadata(json.dumps({"\udfff": "x"}, ensure_ascii=True))
    with pytest.raises(InvalidQuestion):
        DocumentFilter.parse({"title": "\ud800"})
    with pytest.raises(InvalidQuestion):
        DocumentFilter.parse({"tags": {"in": ["ok", "\ud800"]}})


@pytest.mark.parametrize("raw", ['{"a": ' + "[" * 1500 + "]" * 1500 + "}", "[" * 60000])
def test_deep_metadata_is_a_400_not_a_recursion_error(raw):
    with pytest.raises(UploadRefused) as refused:
        parse_metadata(raw)
    assert refused.value.status in (400, 413)


def test_metadata_over_the_limit_and_a_late_nul_are_refused_at_upload():
    with pytest.raises(UploadRefused) as big:
        parse_metadata(json.dumps({"title": "x" * 70000}))
    assert big.value.status == 413
    with pytest.raises(UploadRefused) as nul:
        check_content("notes.txt", b"plain text\n" * 7000 + b"\0 hidden")
    assert nul.value.status == 415


# 10. Over-long name parts; 15. look-alike names.
def test_a_name_part_the_file_system_cannot_hold_is_refused_naming_the_limit():
    with pytest.raises(UploadRefused, match="at most 200 bytes"):
        safe_name("a" * 247 + ".txt")


@pytest.mark.parametrize("name", ["invoice\u202efdp.txt", "zero\u200bwidth.txt", "line\u2028sep.txt", "bell\x07.txt"])
def test_names_with_invisible_characters_are_refused(name):
    with pytest.raises(UploadRefused, match="control, format or separator"):
        safe_name(name)


def test_names_are_normalized_to_one_spelling():
    assert safe_name("cafe\u0301.txt") == safe_name("caf\u00e9.txt") == "caf\u00e9.txt"


def test_a_failed_staging_leaves_nothing_behind(tmp_path: Path):
    change = SourceChange(tmp_path, tmp_path / ".incoming" / "job")
    change.stage("fine.txt", b"ok", {})
    with pytest.raises(OSError):
        change.stage("b" * 260 + ".txt", b"too long for the file system", {})
    change.discard()
    assert not (tmp_path / ".incoming" / "job").exists()


# 13. Collection names; 17. concurrent creates.
@pytest.mark.parametrize("name", ["legal\n", "legal\r\n", "\nlegal"])
def test_a_collection_name_with_a_newline_is_refused(name):
    with pytest.raises(InvalidQuestion):
        check_name(name)


def test_of_two_concurrent_creates_one_gets_a_conflict_not_a_crash(tmp_path: Path):
    library = Library(Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index"), build=None)
    (tmp_path / "sources").mkdir()
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        try:
            library.create("race")
            outcomes.append("created")
        except CollectionExists:
            outcomes.append("exists")
        except Exception as error:  # noqa: BLE001 - what the test is looking for
            outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] + ["exists"] * 7


# 22. The eval gate never passes vacuously.
def test_the_gate_fails_without_its_thresholds_file(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="thresholds"):
        gate.load_thresholds(tmp_path / "missing.json")
    (tmp_path / "empty.json").write_text('{"min": {}, "max": {}}')
    with pytest.raises(ValueError, match="sets no thresholds"):
        gate.load_thresholds(tmp_path / "empty.json")


def test_assistant_eval_outside_the_repo_root_fails_naming_the_file(tmp_path: Path):
    done = subprocess.run(
        [str(Path(sys.executable).parent / "assistant"), "eval", "--questions", str(REPO / "eval" / "questions.jsonl")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "thresholds.json" in done.stderr and "missing" in done.stderr


# 20. Switching generations: no request waits for a load, and none loses its generation.
def test_requests_keep_answering_from_the_old_generation_while_the_new_one_loads(
    corpus, make_assistant, tmp_path, monkeypatch
):
    import time

    from assistant.index.serving import LoadedIndex

    serving = make_assistant(corpus, tmp_path / "index")
    serving.indexer().rebuild()
    old = serving.handle.current().generation
    (corpus / "orchard.txt").write_text("The orchard grows seventeen kinds of apples.")
    make_assistant(corpus, tmp_path / "index").indexer().rebuild()  # another process's rebuild
    real_read = LoadedIndex._read_files

    def slow_read(self, catalog, generation):
        time.sleep(3)
        return real_read(self, catalog, generation)

    monkeypatch.setattr(LoadedIndex, "_read_files", slow_read)
    loader = threading.Thread(target=serving.handle.refresh)
    loader.start()
    time.sleep(0.5)
    started = time.monotonic()
    assert serving.handle.current().generation == old
    assert time.monotonic() - started < 1.0  # not waiting on the lock the load holds
    loader.join()
    assert "orchard.txt" in serving.handle.current().texts


def test_a_generation_stays_open_while_a_request_holds_it_through_two_switches(corpus, make_assistant, tmp_path):
    serving = make_assistant(corpus, tmp_path / "index")
    serving.indexer().rebuild()
    held = serving.handle.current()  # a slow request began here
    vector = serving.embeddings.embed_query("diaspora organisations")
    for n in range(2):
        (corpus / f"extra{n}.txt").write_text(f"Extra note number {n} about the orchard.")
        serving.indexer().rebuild()
        serving.handle.refresh()
    assert serving.handle.current().generation != held.generation
    assert held.store.query(vector, 3)  # two switches later, the request still reads its generation


# 16. `POST /index?wait=true` tells a failed or unfinished job from a finished one.
KEY = "round-three-key-0123456789"


def _client(assistant):
    from fastapi.testclient import TestClient

    from assistant.api import create_app

    settings = assistant.settings.model_copy(update={"api_keys": KEY})
    return TestClient(create_app(settings, assistant), base_url="http://127.0.0.1")


def test_waiting_for_a_job_that_fails_unexpectedly_is_a_500(corpus, make_assistant, monkeypatch):
    from assistant.index.build import Indexer

    assistant = make_assistant(corpus)
    assistant.indexer().rebuild()

    def broken(self, *args, **kwargs):
        raise RuntimeError("a bug in the rebuild")

    monkeypatch.setattr(Indexer, "rebuild", broken)
    with _client(assistant) as client:
        answer = client.post("/index?wait=true", headers={"Authorization": f"Bearer {KEY}"})
    assert answer.status_code == 500, answer.text
    assert "internal error" in answer.json()["detail"]


def test_waiting_for_a_job_still_running_at_the_end_of_the_wait_is_a_202(corpus, make_assistant, monkeypatch):
    from assistant.api import routes

    assistant = make_assistant(corpus)
    assistant.indexer().rebuild()
    monkeypatch.setattr(routes, "WAIT_SECONDS", 0.5)
    with _client(assistant) as client, assistant.catalog.rebuild_lock(wait=True):
        answer = client.post("/index?wait=true", headers={"Authorization": f"Bearer {KEY}"})
        assert answer.status_code == 202, answer.text
        assert answer.json()["state"] == "running"


# 8. An upload racing the deletion of its collection does not bring the collection back.
def test_an_upload_racing_a_collection_delete_never_resurrects_it(corpus, make_assistant, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    assistant = make_assistant(corpus)
    assistant.indexer().rebuild()
    headers = {"Authorization": f"Bearer {KEY}"}
    with _client(assistant) as client:
        for attempt in range(5):
            name = f"race{attempt}"
            assert client.post("/collections", json={"name": name}, headers=headers).status_code == 201
            files = [("files", (f"doc{i}.txt", f"Document {i} of the race.".encode())) for i in range(20)]
            with ThreadPoolExecutor(2) as pool:
                upload = pool.submit(client.post, f"/collections/{name}/documents", files=files, headers=headers)
                deleted = pool.submit(client.delete, f"/collections/{name}", headers=headers)
                upload_status, delete_status = upload.result().status_code, deleted.result().status_code
            if delete_status == 204:
                import time

                time.sleep(0.5)  # a job queued before the delete runs, and must fail
                assert not (corpus.parent / name).exists(), (attempt, upload_status)
            assert upload_status in (202, 404), upload_status


# 21. A Chroma server gone before the first query is a 503, not a raw 500.
def test_a_chroma_server_gone_before_the_first_query_is_a_503(tmp_path, embeddings):
    from assistant.errors import StoreUnavailable
    from assistant.index.store import ChunkStore
    from tests.servers import chroma_server

    with chroma_server(tmp_path / "chroma") as url:
        settings = Settings(sources_dir=tmp_path, index_dir=tmp_path / "index", chroma_url=url)
        from assistant.service.collections import catalog_for

        location = catalog_for(settings, "default").location("g000001")
        store = ChunkStore(location, embeddings, create=True)
    with pytest.raises(StoreUnavailable):
        store.query(embeddings.embed_query("anything"), 3)


# 18. A rebuild that fails mid-embedding closes the Chroma clients it opened.
def test_a_rebuild_failing_mid_embedding_closes_its_chroma_clients(corpus, make_assistant, monkeypatch):
    from assistant.index import store
    from assistant.index.build import Indexer

    assistant = make_assistant(corpus)
    assistant.indexer().rebuild()
    (corpus / "orchard.txt").write_text("The orchard grows seventeen kinds of apples.")
    opened, closed = [], []
    real_init, real_close = store.ChunkStore.__init__, store.ChunkStore.close

    def tracking_init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        opened.append(self)

    def tracking_close(self):
        closed.append(self)
        real_close(self)

    def failing_embed(self, *args, **kwargs):
        raise RuntimeError("the embedding server fell over")

    monkeypatch.setattr(store.ChunkStore, "__init__", tracking_init)
    monkeypatch.setattr(store.ChunkStore, "close", tracking_close)
    monkeypatch.setattr(Indexer, "_embed", failing_embed)
    with pytest.raises(RuntimeError):
        assistant.indexer().rebuild()
    assert len(opened) == 2  # the new generation's, and the previous one's to copy unchanged vectors
    assert all(any(c is o for c in closed) for o in opened)


# 19. The embedding weights are identified by their content, not their name and size.
def test_weights_of_the_same_size_get_different_identities(tmp_path: Path):
    from assistant.index.embeddings import model_identity

    for name, fill in (("a", b"\x01"), ("b", b"\x02")):
        folder = tmp_path / name / "model"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text('{"hidden_size": 384}')
        (folder / "model.safetensors").write_bytes(fill * 4096)
    assert model_identity(str(tmp_path / "a" / "model")) != model_identity(str(tmp_path / "b" / "model"))


def test_a_waiter_that_left_neither_keeps_others_waiting_nor_stops_the_worker(corpus, make_assistant):
    """A `?wait=true` client whose event loop had closed (it left, the server stopped) made its
    wake-up call raise inside the worker's finish(): the other waiters were not woken and the
    collection's worker thread died, so the job queued behind never ran."""
    import threading

    from assistant.service.jobs import Jobs

    assistant = make_assistant(corpus)
    assistant.indexer().rebuild()
    release = threading.Event()

    def held_back(collection):
        release.wait(30)
        return assistant

    jobs = Jobs(held_back)
    first = jobs.submit("rebuild", "default", [])
    second = jobs.submit("rebuild", "default", [])

    def left(*_):
        raise RuntimeError("Event loop is closed")

    woken = []
    first.when_finished(left)
    first.when_finished(lambda: woken.append(first.id))
    release.set()
    assert jobs.wait(second, timeout=120).state == "done"
    assert first.state == "done" and woken == [first.id]
