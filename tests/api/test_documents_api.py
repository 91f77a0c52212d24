"""Collections and documents over HTTP, on a real `assistant serve` process: upload -> job ->
cited answer -> delete -> gone; hostile uploads; keys limited to collections."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from tests.conftest import SAMPLE_SOURCES
from tests.office_files import docx_bytes, slow_pdf, zip_bomb_docx
from tests.servers import BIN, free_port, running

pytestmark = [pytest.mark.slow, pytest.mark.server]

ADMIN = "admin-key-0123456789abcdef"
HR_ONLY = "hr-only-key-0123456789abcd"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
AS_HR = {"Authorization": f"Bearer {HR_ONLY}"}
POLICY = docx_bytes(
    "Parental leave",
    ["New parents get 20 weeks of paid parental leave.", "Requests go to the people team four weeks ahead."],
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("documents-api")
    shutil.copytree(SAMPLE_SOURCES, work / "sources")
    env = {
        "ASSISTANT_SOURCES_DIR": str(work / "sources"),
        "ASSISTANT_INDEX_DIR": str(work / "index"),
        "ASSISTANT_API_KEYS": f"{ADMIN}:*;{HR_ONLY}:hr",
        "ASSISTANT_MAX_UPLOAD_BYTES": str(1024 * 1024),
        "ASSISTANT_MAX_PARSE_SECONDS": "3",
    }
    subprocess.run([str(BIN / "assistant"), "index"], env={**_environ(), **env}, check=True, capture_output=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(BIN / "assistant"), "serve", "--port", str(port)]
    with (
        running(command, f"{url}/health", env=env, log=work / "serve.log"),
        httpx.Client(base_url=url, timeout=120) as client,
    ):
        yield client, work


def _environ():
    import os

    return dict(os.environ)


def _finished(client: httpx.Client, response: httpx.Response, headers=AS_ADMIN) -> dict:
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    deadline = time.monotonic() + 120
    while True:
        job = client.get(f"/jobs/{job_id}", headers=headers).json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def _ask(client, question, collection="hr", headers=AS_ADMIN, **extra):
    body = {"messages": [{"role": "user", "content": question}], "collection": collection, **extra}
    return client.post("/chat", json=body, headers=headers)


def _raw_upload(client, name: str, data: bytes, collection: str) -> httpx.Response:
    """A multipart body written by hand: clients escape odd names, an attacker does not."""
    boundary = "hostile-boundary-7c1f"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode("utf-8", "surrogateescape")
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {**AS_ADMIN, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    return client.post(f"/collections/{collection}/documents", content=body, headers=headers)


def _upload(client, name, data, headers=AS_ADMIN, collection="hr", metadata=None):
    form = {"metadata": json.dumps(metadata)} if metadata is not None else {}
    path = f"/collections/{collection}/documents"
    return client.post(path, files={"files": (name, data)}, data=form, headers=headers)


def test_upload_then_ask_then_delete(server):
    client, work = server
    assert client.post("/collections", json={"name": "hr"}, headers=AS_ADMIN).status_code == 201
    assert client.post("/collections", json={"name": "hr"}, headers=AS_ADMIN).status_code == 409

    job = _finished(client, _upload(client, "policies/parental.docx", POLICY, metadata={"tags": ["policy"]}))
    assert job["state"] == "done" and job["errors"] == {}
    assert job["files_done"] == job["files_total"] == 1 and job["chunks_embedded"] > 0
    assert (work / "sources" / "hr" / "policies" / "parental.docx").read_bytes() == POLICY

    listed = client.get("/collections/hr/documents", headers=AS_ADMIN).json()["documents"]
    assert [(d["id"], d["status"], d["metadata"]) for d in listed] == [
        ("policies/parental.docx", "indexed", {"tags": ["policy"]})
    ]
    answer = _ask(client, "How many weeks of parental leave do new parents get?").json()
    assert not answer["abstained"] and "20 weeks" in answer["answer"]
    citation = answer["citations"][0]
    text = client.get("/sources/policies/parental.docx/text", params={"collection": "hr"}, headers=AS_ADMIN).text
    assert text[citation["start"] : citation["end"]] == citation["text"]
    # The same name again replaces the document.
    revised = docx_bytes("Parental leave", ["New parents get 24 weeks of paid parental leave."])
    replaced = _finished(client, _upload(client, "policies/parental.docx", revised, metadata={"tags": ["policy"]}))
    assert replaced["report"]["updated"] == 1 and replaced["report"]["added"] == 0
    assert "24 weeks" in _ask(client, "How many weeks of parental leave do new parents get?").json()["answer"]
    # A filter that excludes the document leaves nothing to answer from.
    filtered = _ask(client, "How many weeks of parental leave?", filter={"tags": "runbook"}).json()
    assert filtered["abstained"] and filtered["citations"] == []
    # The default collection does not see hr's documents.
    assert "20 weeks" not in _ask(client, "How many weeks of parental leave?", collection="default").json()["answer"]

    deleted = _finished(client, client.delete("/collections/hr/documents/policies/parental.docx", headers=AS_ADMIN))
    assert deleted["state"] == "done" and deleted["report"]["removed"] == 1
    assert not (work / "sources" / "hr" / "policies" / "parental.docx").exists()
    assert client.get("/collections/hr/documents", headers=AS_ADMIN).json()["documents"] == []
    assert _ask(client, "How many weeks of parental leave do new parents get?").json()["abstained"]
    assert client.delete("/collections/hr/documents/policies/parental.docx", headers=AS_ADMIN).status_code == 404


@pytest.mark.parametrize(
    ("name", "data", "status"),
    [
        ("../escape.txt", b"text", 400),
        ("/etc/cron.d/evil.txt", b"text", 400),
        ("sub/../../escape.txt", b"text", 400),
        ("nul\x00byte.txt", b"text", 400),
        ("bell\x07.txt", b"text", 400),
        ("program.exe", b"MZ\x90\x00", 415),
        ("report.pdf", b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64, 415),
        ("notes.txt", b"\x00\x01\x02binary", 415),
        ("bomb.docx", None, 413),
        ("big.txt", b"a" * (1024 * 1024 + 1), 413),
    ],
)
def test_hostile_uploads_are_refused_and_nothing_is_lost(server, name, data, status):
    client, work = server
    client.post("/collections", json={"name": "safe"}, headers=AS_ADMIN)
    before = client.get("/sources", headers=AS_ADMIN).json()
    if data is None:
        data = zip_bomb_docx(300 << 20)
    refused = _raw_upload(client, name, data, collection="default")
    assert refused.status_code == status, refused.text
    assert refused.json()["detail"]
    assert client.get("/sources", headers=AS_ADMIN).json() == before
    assert not (work / "escape.txt").exists() and not (work / "sources" / "escape.txt").exists()
    assert not _ask(client, "When was the Support to the Azerbaijan Diaspora Fund established?", "default").json()[
        "abstained"
    ]


def test_a_declared_gigabyte_is_refused_before_it_is_sent(server):
    client, _ = server
    address = urlparse(str(client.base_url))
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(
            b"POST /collections/default/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer " + ADMIN.encode() + b"\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 1073741824\r\n\r\n"
        )
        reply = connection.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 413"), reply


def test_an_upload_during_a_rebuild_waits_its_turn_and_the_index_serves_on(server):
    client, work = server
    for i in range(60):  # a rebuild long enough to upload during it
        (work / "sources" / "default" / f"filler-{i}.txt").write_text(f"Filler document number {i}. " * 150)
    rebuild = client.post("/index", headers=AS_ADMIN)
    upload = _upload(client, "orchard.txt", b"The orchard grows seventeen kinds of apples.", collection="default")
    assert rebuild.status_code == upload.status_code == 202
    assert _ask(client, "When was the Support to the Azerbaijan Diaspora Fund established?", "default").is_success
    assert _finished(client, rebuild)["state"] == "done"
    done = _finished(client, upload)
    assert done["state"] == "done" and done["report"]["added"] == 1
    answer = _ask(client, "How many kinds of apples does the orchard grow?", "default").json()
    assert "seventeen" in answer["answer"]


def test_keys_limited_to_collections(server):
    client, _ = server
    client.post("/collections", json={"name": "hr"}, headers=AS_ADMIN)
    assert [c["name"] for c in client.get("/collections", headers=AS_HR).json()] == ["hr"]
    assert {"default", "hr"} <= {c["name"] for c in client.get("/collections", headers=AS_ADMIN).json()}
    assert _ask(client, "Anything?", collection="default", headers=AS_HR).status_code == 403
    assert client.get("/sources", headers=AS_HR).status_code == 403
    assert _upload(client, "x.txt", b"text", headers=AS_HR, collection="default").status_code == 403
    assert client.post("/collections", json={"name": "legal"}, headers=AS_HR).status_code == 403
    job = _finished(client, _upload(client, "hr-note.txt", b"The HR office is on floor three.", headers=AS_HR), AS_HR)
    assert job["state"] == "done"
    answer = _ask(client, "Which floor is the HR office on?", headers=AS_HR)
    assert answer.status_code == 200
    assert "floor three" in answer.json()["answer"]
    assert [c["source"] for c in answer.json()["citations"]] == ["hr-note.txt"]
    assert client.get(f"/jobs/{job['id']}", headers=AS_HR).status_code == 200


def test_a_collection_is_deleted_with_its_documents(server):
    client, work = server
    client.post("/collections", json={"name": "temp"}, headers=AS_ADMIN)
    _finished(client, _upload(client, "a.txt", b"The temporary note says hello.", collection="temp"))
    assert client.delete("/collections/temp", headers=AS_ADMIN).status_code == 204
    assert not (work / "sources" / "temp").exists()
    assert client.get("/collections/temp/documents", headers=AS_ADMIN).status_code == 404
    assert client.delete("/collections/default", headers=AS_ADMIN).status_code == 422


# Hardening, third round, over real HTTP (items 2, 4 and 11).
def _raw_request(url: str, head: str, send_body: bytes = b"", timeout: float = 5.0) -> bytes:
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1") + send_body)
        return sock.recv(65536)


def test_a_refused_upload_is_answered_before_its_body_is_sent(server):
    """A 15 MB upload with no key, or a key for another collection: the refusal comes from the
    headers alone (the client has sent no byte of the body when it reads the answer)."""
    client, _ = server
    client.post("/collections", json={"name": "legal"}, headers=AS_ADMIN)
    boundary = "b-7c1f"
    for key, expected in ((None, b" 401 "), (HR_ONLY, b" 403 ")):
        auth = f"Authorization: Bearer {key}\r\n" if key else ""
        head = (
            "POST /collections/legal/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"{auth}Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {15 * 1024 * 1024}\r\n\r\n"  # under the upload limit: the key decides
        )
        answer = _raw_request(str(client.base_url), head)
        assert expected in answer.split(b"\r\n")[0], answer[:200]


def test_waiting_requests_hold_no_thread_and_are_bounded(server):
    """While a job cannot run (the CLI holds the rebuild lock), 40 `?wait=true` requests wait:
    beyond 32 they get 429, and /livez, /health and another collection's /chat answer at once."""
    from concurrent.futures import ThreadPoolExecutor

    from assistant.service.collections import catalog_for
    from assistant.settings import Settings

    client, work = server
    client.post("/collections", json={"name": "waiting"}, headers=AS_ADMIN)
    catalog = catalog_for(Settings(sources_dir=work / "sources", index_dir=work / "index"), "waiting")
    url = str(client.base_url)

    def wait_for_index() -> int:
        with httpx.Client(base_url=url, timeout=300) as own:
            return own.post("/index", params={"collection": "waiting", "wait": "true"}, headers=AS_ADMIN).status_code

    with ThreadPoolExecutor(40) as pool:
        with catalog.rebuild_lock(wait=True):
            statuses = [pool.submit(wait_for_index) for _ in range(40)]
            time.sleep(3)
            for path in ("/livez", "/health"):
                started = time.monotonic()
                assert client.get(path, timeout=5).status_code == 200
                print(f"\nitem 2: {path} answered in {1000 * (time.monotonic() - started):.0f} ms with 40 waiting")
                assert time.monotonic() - started < 1.0, path
            started = time.monotonic()
            assert _ask(client, "Where do Azerbaijanis live?", collection="default").status_code == 200
            assert time.monotonic() - started < 10
            refused = [f.result() for f in statuses if f.done()]
            assert refused and set(refused) == {429}, refused
        codes = sorted(f.result() for f in statuses)
    assert codes.count(429) == len(refused) and set(codes) == {200, 429}, codes


def test_control_characters_in_a_path_cannot_forge_a_log_line(server):
    client, work = server
    client.get("/nothing%0D%0AFORGED-LINE%20INFO%20all%20is%20well")
    client.get("/nothing%E2%80%A8FORGED-LINE-2")
    time.sleep(0.5)
    lines = (work / "serve.log").read_text(errors="replace").splitlines()
    assert not any(line.startswith("FORGED-LINE") for line in lines)
    assert any("\\r\\nFORGED-LINE" in line for line in lines)
    assert any("\\u2028FORGED-LINE-2" in line for line in lines)


# Item 1: files that parse for hours, a collection's slow job, cancelling jobs.
def test_a_file_that_would_parse_for_hours_is_skipped_with_its_reason(server):
    client, work = server
    client.post("/collections", json={"name": "slowpdf"}, headers=AS_ADMIN)
    started = time.monotonic()
    job = _finished(client, _upload(client, "slow.pdf", slow_pdf(12), collection="slowpdf"))
    print(f"\nitem 1: the 12-page PDF was skipped after {time.monotonic() - started:.1f} s (budget 3 s)")
    assert time.monotonic() - started < 60  # 12 pages of 8-10 s each without the budget
    assert "ASSISTANT_MAX_PARSE_SECONDS" in job["errors"]["slow.pdf"], job
    listed = client.get("/collections/slowpdf/documents", headers=AS_ADMIN).json()["documents"]
    assert [(d["id"], d["status"]) for d in listed] == [("slow.pdf", "skipped")]


def test_a_stuck_collection_holds_no_other_back_and_its_jobs_can_be_cancelled(server):
    from assistant.service.collections import catalog_for
    from assistant.settings import Settings

    client, work = server
    for name in ("stuck", "moving"):
        client.post("/collections", json={"name": name}, headers=AS_ADMIN)
    catalog = catalog_for(Settings(sources_dir=work / "sources", index_dir=work / "index"), "stuck")
    with catalog.rebuild_lock(wait=True):  # the stuck collection's job cannot run
        first = _upload(client, "first.txt", b"The first note of the stuck collection.", collection="stuck")
        queued = _upload(client, "second.txt", b"The second note, queued behind it.", collection="stuck")
        started = time.monotonic()
        other = _finished(client, _upload(client, "note.txt", b"The office opens at nine.", collection="moving"))
        assert other["state"] == "done" and time.monotonic() - started < 60
        cancelled = client.delete(f"/jobs/{queued.json()['id']}", headers=AS_ADMIN)
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        assert client.delete(f"/jobs/{queued.json()['id']}", headers=AS_ADMIN).status_code == 409
        running = client.delete(f"/jobs/{first.json()['id']}", headers=AS_ADMIN)
        assert running.status_code == 200
    assert _finished(client, first)["state"] == "cancelled"
    # Neither cancelled upload reached the folder or the index.
    assert not (work / "sources" / "stuck" / "first.txt").exists()
    assert not (work / "sources" / "stuck" / "second.txt").exists()
    assert client.get("/collections/stuck/documents", headers=AS_ADMIN).json()["documents"] == []


# Item 5: uploads are streamed to disk, not held in memory.
def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_concurrent_large_uploads_do_not_grow_the_servers_memory_with_their_size(tmp_path):
    """Four concurrent uploads of 5 x 8 MB (160 MB): the server's memory grows by far less."""
    from concurrent.futures import ThreadPoolExecutor

    shutil.copytree(SAMPLE_SOURCES, tmp_path / "sources")
    env = {
        "ASSISTANT_SOURCES_DIR": str(tmp_path / "sources"),
        "ASSISTANT_INDEX_DIR": str(tmp_path / "index"),
        "ASSISTANT_API_KEYS": f"{ADMIN}:*",
        "ASSISTANT_MAX_UPLOAD_BYTES": str(10 * 1024 * 1024),
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(BIN / "assistant"), "serve", "--port", str(port)]
    with (
        running(command, f"{url}/livez", env=env, log=tmp_path / "serve.log") as server_process,
        httpx.Client(base_url=url, timeout=300) as client,
    ):
        pid = server_process.pid
        client.post("/collections", json={"name": "big"}, headers=AS_ADMIN)
        line = b"Plain text that goes on and on, line after line, about nothing in particular.\n"
        body = line * (8 * 1024 * 1024 // len(line))
        before = _rss_mb(pid)

        def upload(n: int) -> int:
            files = [("files", (f"r{n}-{i}.txt", body)) for i in range(5)]
            with httpx.Client(base_url=url, timeout=300) as own:
                return own.post("/collections/big/documents", files=files, headers=AS_ADMIN).status_code

        with ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(upload, range(4)))
        grown = _rss_mb(pid) - before
    assert set(statuses) <= {202, 429, 507}, statuses
    assert 202 in statuses
    print(f"\nitem 5: 4 x 5 x 8 MB uploaded concurrently, server RSS grew {grown:.0f} MB")
    assert grown < 100, f"the server grew by {grown:.0f} MB for 160 MB of uploads"
