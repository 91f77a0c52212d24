"""Ingestion jobs: uploads, deletions and rebuilds, applied one at a time by one worker per process.

A job is accepted (202) once its files are staged; the worker then changes the collection's
sources and rebuilds it, which writes a new generation and switches to it, or fails and puts the
sources back. Jobs live in memory: after a restart their ids are unknown (404), queued ones are
gone, and what a crash left staged is discarded. The serving index is never half-built: a
rebuild switches generations only once it is complete.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from assistant.errors import AssistantError, CollectionNotFound, JobNotFound
from assistant.uploads import SourceChange

logger = logging.getLogger(__name__)
KEEP_FINISHED = 1000
_CALLBACK_LOCK = threading.Lock()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Job:
    id: str
    kind: str  # "index", "upload" or "delete"
    collection: str
    files: list[str] = field(default_factory=list)  # the documents it adds, replaces or deletes
    state: str = "queued"  # queued, running, done, failed
    files_done: int = 0
    files_total: int = 0
    texts_embedded: int = 0  # chunks and sentences embedded so far
    texts_total: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # per file: why it is not indexed
    error: str | None = None
    error_code: str | None = None
    created_at: str = field(default_factory=_now)
    started_at: str | None = None
    finished_at: str | None = None
    queued_seconds: float | None = None
    run_seconds: float | None = None
    report: dict | None = None
    change: SourceChange | None = field(default=None, repr=False)
    exception: AssistantError | None = field(default=None, repr=False)
    _created: float = field(default_factory=time.perf_counter, repr=False)
    finished: threading.Event = field(default_factory=threading.Event, repr=False)
    _callbacks: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def over(self) -> bool:
        return self.state in ("done", "failed", "cancelled")

    def when_finished(self, callback: Callable[[], None]) -> None:
        """Call back once the job is over (at once if it is): lets a waiter hold no thread."""
        with _CALLBACK_LOCK:
            if not self.finished.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def finish(self) -> None:
        with _CALLBACK_LOCK:
            self.finished.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "collection": self.collection,
            "state": self.state,
            "files": self.files,
            "files_done": self.files_done,
            "files_total": self.files_total,
            "chunks_embedded": self.texts_embedded,
            "texts_total": self.texts_total,
            "errors": self.errors,
            "error": self.error,
            "error_code": self.error_code,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "queued_seconds": self.queued_seconds,
            "run_seconds": self.run_seconds,
            "report": self.report,
        }


class Jobs:
    """The queue and its one worker thread; `assistant_for(collection)` gives what to rebuild."""

    def __init__(self, assistant_for: Callable, on_finished: Callable[[Job], None] | None = None) -> None:
        self._assistant_for = assistant_for
        self._on_finished = on_finished
        self._queue: queue.Queue[Job] = queue.Queue()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def submit(self, kind: str, collection: str, files: list[str], change: SourceChange | None = None) -> Job:
        job = Job(id=f"job-{uuid.uuid4().hex[:16]}", kind=kind, collection=collection, files=files, change=change)
        with self._lock:
            self._jobs[job.id] = job
            finished = [j for j in self._jobs.values() if j.state in ("done", "failed")]
            for old in finished[: max(0, len(finished) - KEEP_FINISHED)]:
                del self._jobs[old.id]
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="ingestion-worker", daemon=True)
                self._worker.start()
        self._queue.put(job)
        return job

    def waiting(self, collection: str) -> int:
        """Jobs of a collection not yet started."""
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.collection == collection and j.state == "queued")

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"No job {job_id!r} (jobs are kept in memory: a restart forgets them).")
        return job

    def wait(self, job: Job, timeout: float) -> Job:
        """For tests and the CLI: until the job has finished or `timeout` passes."""
        job.finished.wait(timeout)
        return job

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                self._run(job)
            except Exception:  # noqa: BLE001 - the worker must outlive any one job
                logger.exception("Job %s failed unexpectedly", job.id)
                job.state, job.error = "failed", job.error or "internal error (see the server log)"
            finally:
                job.finished_at = _now()
                if self._on_finished is not None:
                    self._on_finished(job)
                job.finish()

    def _run(self, job: Job) -> None:
        job.state, job.started_at = "running", _now()
        started = time.perf_counter()
        job.queued_seconds = round(started - job._created, 3)
        change = job.change
        try:
            assistant = self._assistant_for(job.collection)
            if change is not None:
                if not change.sources_dir.is_dir():  # the collection was deleted after the job was queued
                    raise CollectionNotFound(f"No collection {job.collection!r}: it was deleted.")
                if job.kind == "delete":
                    for doc_id in job.files:
                        change.remove(doc_id)
                else:
                    change.place_staged()

            def texts(done: int, total: int) -> None:
                job.texts_embedded, job.texts_total = done, total

            def files(done: int, total: int) -> None:
                job.files_done, job.files_total = done, total

            # Waits for a rebuild another process (the CLI) is running, instead of failing.
            report = assistant.indexer().rebuild(progress=texts, wait_for_lock=True, files=files)
        except AssistantError as error:
            if change is not None:
                change.undo()
            job.state, job.error, job.error_code, job.exception = "failed", str(error), error.code, error
            logger.warning("Job %s failed: %s", job.id, error)
            return
        except Exception:
            if change is not None:
                change.undo()
            raise
        finally:
            job.run_seconds = round(time.perf_counter() - started, 3)
            if change is not None:
                change.discard()
        job.report = report.to_json()
        skipped = {item["source"]: item["reason"] for item in report.skipped}
        # A rebuild answers for every file; an upload or deletion for its own.
        job.errors = skipped if job.kind == "index" else {name: skipped[name] for name in job.files if name in skipped}
        job.state = "done"
