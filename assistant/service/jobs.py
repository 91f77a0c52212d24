"""Ingestion jobs: uploads, deletions and rebuilds, applied in order by one worker per collection
(a slow job in one collection does not hold the others back). A queued or running job can be
cancelled: a running one stops at its next file or embedding batch and puts the sources back.

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
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime

from assistant.errors import AssistantError, CollectionNotFound, JobCancelled, JobNotFound, JobOver
from assistant.ingest.uploads import SourceChange

logger = logging.getLogger(__name__)
KEEP_FINISHED = 1000
_CALLBACK_LOCK = threading.Lock()


def _stop_if_cancelled(job: Job) -> None:
    if job.cancel_requested:
        raise JobCancelled(f"Job {job.id} was cancelled.")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Job:
    id: str
    kind: str  # "index", "upload" or "delete"
    collection: str
    files: list[str] = field(default_factory=list)  # the documents it adds, replaces or deletes
    state: str = "queued"  # queued, running, done, failed, cancelled
    cancel_requested: bool = False
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
        # A waiter's callback that fails (its event loop closed when its client left) must not
        # keep the other waiters from waking, nor end the worker thread that called finish().
        for callback in callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001
                logger.warning("A callback waiting on job %s failed", self.id, exc_info=True)

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
    """A queue and a worker thread per collection; `assistant_for(collection)` gives what to rebuild."""

    def __init__(
        self,
        assistant_for: Callable,
        on_finished: Callable[[Job], None] | None = None,
        changing: Callable[[str], AbstractContextManager] | None = None,
    ) -> None:
        self._assistant_for = assistant_for
        self._on_finished = on_finished
        # Held while a job changes a collection's folder (Library.changing): a concurrent delete
        # of the collection waits for it, and a job that comes after the delete fails.
        self._changing = changing or (lambda collection: nullcontext())
        self._queues: dict[str, queue.Queue[Job]] = {}
        self._workers: dict[str, threading.Thread] = {}
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def submit(self, kind: str, collection: str, files: list[str], change: SourceChange | None = None) -> Job:
        job = Job(id=f"job-{uuid.uuid4().hex[:16]}", kind=kind, collection=collection, files=files, change=change)
        with self._lock:
            self._jobs[job.id] = job
            finished = [j for j in self._jobs.values() if j.over]
            for old in finished[: max(0, len(finished) - KEEP_FINISHED)]:
                del self._jobs[old.id]
            jobs = self._queues.setdefault(collection, queue.Queue())
            worker = self._workers.get(collection)
            if worker is None or not worker.is_alive():
                worker = threading.Thread(target=self._work, args=(jobs,), name=f"jobs-{collection}", daemon=True)
                self._workers[collection] = worker
                worker.start()
        jobs.put(job)
        return job

    def cancel(self, job_id: str) -> Job:
        """A queued job is cancelled at once; a running one at its next file or batch (409 when over)."""
        job = self.get(job_id)
        with self._lock:
            if job.over:
                raise JobOver(f"Job {job_id} is already {job.state}.")
            job.cancel_requested = True
            cancel_now = job.state == "queued"
            if cancel_now:
                job.state, job.finished_at = "cancelled", _now()
        if cancel_now:
            if job.change is not None:
                job.change.discard()
            job.finish()
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

    def _work(self, jobs: queue.Queue[Job]) -> None:
        while True:
            job = jobs.get()
            with self._lock:
                if job.state == "cancelled":
                    continue
                job.state = "running"
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
        job.started_at = _now()
        started = time.perf_counter()
        job.queued_seconds = round(started - job._created, 3)
        change = job.change
        try:
            assistant = self._assistant_for(job.collection)
            if change is not None:
                with self._changing(job.collection):
                    if not change.sources_dir.is_dir():  # the collection was deleted after the job was queued
                        raise CollectionNotFound(f"No collection {job.collection!r}: it was deleted.")
                    if job.kind == "delete":
                        for doc_id in job.files:
                            change.remove(doc_id)
                    else:
                        change.place_staged()

            def texts(done: int, total: int) -> None:
                job.texts_embedded, job.texts_total = done, total
                _stop_if_cancelled(job)

            def files(done: int, total: int) -> None:
                job.files_done, job.files_total = done, total
                _stop_if_cancelled(job)

            # Waits for a rebuild another process (the CLI) is running, instead of failing.
            report = assistant.indexer().rebuild(progress=texts, wait_for_lock=True, files=files)
        except AssistantError as error:
            if change is not None:
                change.undo()
            if isinstance(error, JobCancelled):
                job.state = "cancelled"
                logger.info("Job %s cancelled", job.id)
                return
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
