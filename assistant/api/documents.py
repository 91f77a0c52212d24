"""Collections, their documents (upload, list, delete) and the ingestion jobs that apply changes."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile as StarletteUpload

from assistant.api.deps import AdminDep, CallerDep, EditorDep, JobsDep, LibraryDep, assistant_for
from assistant.api.schemas import (
    CollectionIn,
    CollectionOut,
    DocumentOut,
    DocumentsResponse,
    ErrorResponse,
    JobOut,
)
from assistant.api.security import check_scope, may_use
from assistant.errors import DocumentNotFound, IndexNotBuilt, UploadRefused
from assistant.ingest.loading import candidate_files
from assistant.ingest.uploads import (
    INCOMING_DIR,
    SourceChange,
    check_content,
    name_conflicts,
    parse_metadata,
    safe_name,
    staged_bytes,
)
from assistant.service.assembly import Assistant
from assistant.service.collections import check_name
from assistant.service.jobs import Job

router = APIRouter()
ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 409, 411, 413, 415, 422, 429, 503)}


def job_response(job: Job, status: int = 202) -> JSONResponse:
    body = JobOut(**job.to_json()).model_dump()
    return JSONResponse(body, status_code=status, headers={"Location": f"/jobs/{job.id}"})


@router.get("/collections", response_model=list[CollectionOut], responses=ERRORS, summary="List collections")
def list_collections(http: Request, library: LibraryDep, _: CallerDep) -> list[CollectionOut]:
    """The collections this key may use, with the size of their serving index."""
    return [_collection_out(library.get(name)) for name in library.names() if may_use(http, name)]


def _collection_out(assistant: Assistant) -> CollectionOut:
    try:
        index = assistant.handle.current()
    except IndexNotBuilt:
        return CollectionOut(name=assistant.collection, generation=None, documents=0, chunks=0)
    return CollectionOut(
        name=assistant.collection,
        generation=index.generation,
        documents=len(index.manifest.documents),
        chunks=len(index.chunks),
    )


@router.post("/collections", status_code=201, response_model=CollectionOut, responses=ERRORS, summary="Create")
def create_collection(body: CollectionIn, http: Request, library: LibraryDep, _: AdminDep) -> CollectionOut:
    """An empty collection: a folder `sources/<name>/`. 409 if it exists; needs a key that may use it."""
    check_scope(http, check_name(body.name))
    library.create(body.name)
    return _collection_out(library.get(body.name))


@router.delete("/collections/{name}", status_code=204, responses=ERRORS, summary="Delete a collection")
def delete_collection(name: str, http: Request, library: LibraryDep, _: AdminDep) -> None:
    """Its documents, index generations and vectors go. 409 while it is being rebuilt."""
    check_scope(http, check_name(name))
    library.delete(name)


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "One or more documents; a file with an existing name replaces it.",
                        },
                        "metadata": {
                            "type": "string",
                            "description": 'JSON object given to every file: {"tags": ["hr"], "title": "..."}.',
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/collections/{name}/documents",
    status_code=202,
    response_model=JobOut,
    responses={**ERRORS, 429: {"model": ErrorResponse}, 507: {"model": ErrorResponse}},
    summary="Upload",
    openapi_extra=_UPLOAD_BODY,
)
async def upload(name: str, http: Request, jobs: JobsDep, library: LibraryDep, _: EditorDep) -> JSONResponse:
    """Write the files into the collection's folder and index them (incrementally), as a job:
    202 with the job, whose progress `GET /jobs/{id}` reports. Checked first, all or nothing:
    names (no `..`, absolute paths or control characters: 400), size (413), type by content (415),
    a name that would turn a folder of documents into a file or back (409), too many jobs waiting
    (429) or too many bytes staged (507) for the collection.

    The key and its collections are checked from the headers before the body is read (the body
    of a refused request is never read); each part is spooled to disk as it arrives."""
    settings = http.app.state.settings
    check_scope(http, check_name(name))
    assistant = await run_in_threadpool(assistant_for, http, name)
    if jobs.waiting(name) >= settings.max_queued_jobs:
        raise UploadRefused(
            f"{settings.max_queued_jobs} jobs already wait for the collection {name!r}; retry when they are done.",
            429,
            "too_many_jobs",
        )
    declared = int(http.headers.get("content-length") or 0)
    staged = await run_in_threadpool(staged_bytes, assistant.sources)
    if staged + declared > settings.max_staged_bytes:
        raise UploadRefused(
            f"the collection {name!r} holds {staged} bytes of uploads waiting to be indexed; this one would pass "
            f"the limit of {settings.max_staged_bytes} (ASSISTANT_MAX_STAGED_BYTES). Retry when its jobs are done.",
            507,
            "too_much_staged",
        )
    try:
        form = await http.form(max_files=settings.max_upload_files, max_fields=16)
    except HTTPException as error:
        raise UploadRefused(f"{error.detail}", 413 if "many" in str(error.detail).lower() else 400) from None
    try:
        files = [item for item in form.getlist("files") if isinstance(item, StarletteUpload)]
        metadata = form.get("metadata")
        if not files:
            raise UploadRefused("No files: send one or more as multipart form field 'files'.")
        return await run_in_threadpool(
            _accept, assistant, name, files, metadata if isinstance(metadata, str) else None, library, jobs, settings
        )
    finally:
        await form.close()


def _accept(assistant: Assistant, name: str, files: list, metadata: str | None, library, jobs, settings):
    fields = parse_metadata(metadata)
    names: list[str] = []
    for upload_file in files:
        doc_id = safe_name(upload_file.filename)
        if doc_id in names:
            raise UploadRefused(f"{doc_id} is sent twice.")
        names.append(doc_id)
    conflicts = name_conflicts(assistant.sources, sorted(names))
    if conflicts:
        raise UploadRefused("; ".join(conflicts) + ".", 409, "name_conflict")
    with library.changing(name):  # a concurrent DELETE /collections/{name} waits, or this gets 404
        change = SourceChange(assistant.sources, assistant.sources / INCOMING_DIR / uuid.uuid4().hex)
        try:
            for doc_id, upload_file in zip(names, files, strict=True):
                upload_file.file.seek(0)
                staged = change.stage(doc_id, upload_file.file, fields, settings.max_upload_bytes)
                with open(staged, "rb") as handle:
                    check_content(doc_id, handle)
        except OSError as error:  # nothing staged by a refused request stays behind
            change.discard()
            raise UploadRefused(f"could not stage the upload: {error.strerror or error}") from None
        except BaseException:
            change.discard()
            raise
        return job_response(jobs.submit("upload", name, sorted(names), change))


@router.get("/collections/{name}/documents", response_model=DocumentsResponse, responses=ERRORS, summary="List")
def list_documents(name: str, http: Request, _: CallerDep) -> DocumentsResponse:
    """Every document of the collection: indexed, waiting to be, skipped (with why) or being removed."""
    assistant = assistant_for(http, name)
    return DocumentsResponse(collection=name, generation=_generation(assistant), documents=_documents(assistant))


@router.get("/collections/{name}/documents/{doc_id:path}", response_model=DocumentOut, responses=ERRORS, summary="One")
def get_document(name: str, doc_id: str, http: Request, _: CallerDep) -> DocumentOut:
    assistant = assistant_for(http, name)
    for document in _documents(assistant):
        if document.id == doc_id:
            return document
    raise DocumentNotFound(f"No document {doc_id!r} in the collection {name!r}.")


@router.delete(
    "/collections/{name}/documents/{doc_id:path}",
    status_code=202,
    response_model=JobOut,
    responses=ERRORS,
    summary="Delete a document",
)
def delete_document(name: str, doc_id: str, http: Request, jobs: JobsDep, _: EditorDep) -> JSONResponse:
    """The file, its metadata, its vectors and its BM25 entries go in one new generation (a job)."""
    assistant = assistant_for(http, name)
    if not any(d.id == doc_id for d in _documents(assistant)):
        raise DocumentNotFound(f"No document {doc_id!r} in the collection {name!r}.")
    safe_name(doc_id)
    change = SourceChange(assistant.sources, assistant.sources / INCOMING_DIR / uuid.uuid4().hex)
    return job_response(jobs.submit("delete", name, [doc_id], change))


@router.get("/jobs/{job_id}", response_model=JobOut, responses=ERRORS, summary="An ingestion job")
def get_job(job_id: str, http: Request, jobs: JobsDep, _: CallerDep) -> JobOut:
    """State (queued, running, done, failed), files and chunks done, errors per file, timings."""
    job = jobs.get(job_id)
    check_scope(http, job.collection)
    return JobOut(**job.to_json())


@router.delete("/jobs/{job_id}", response_model=JobOut, responses=ERRORS, summary="Cancel a job")
def cancel_job(job_id: str, http: Request, jobs: JobsDep, _: AdminDep) -> JobOut:
    """A queued job is cancelled at once; a running one stops at its next file or embedding batch
    and puts the collection's folder back (its state turns `cancelled`). 409 once it is over."""
    check_scope(http, jobs.get(job_id).collection)
    return JobOut(**jobs.cancel(job_id).to_json())


def _generation(assistant: Assistant) -> str | None:
    try:
        return assistant.handle.current().generation
    except IndexNotBuilt:
        return None


def _documents(assistant: Assistant) -> list[DocumentOut]:
    """The serving index's documents beside the folder's files (names only: no file is read)."""
    try:
        index = assistant.handle.current()
    except IndexNotBuilt:
        index = None
    folder = assistant.sources
    on_disk = {doc_id for doc_id, _ in candidate_files(folder)} if folder.is_dir() else set()
    out: dict[str, DocumentOut] = {}
    if index is not None:
        for doc in index.manifest.documents.values():
            out[doc.id] = DocumentOut(
                id=doc.id,
                status="indexed" if doc.id in on_disk else "removing",
                title=doc.title,
                kind=doc.kind,
                hash=doc.content_hash,
                chunks=len(doc.chunks),
                chars=len(index.texts[doc.id]),
                metadata=doc.metadata,
            )
        for source, reason, _ in index.manifest.skipped:
            if source in on_disk:
                out[source] = DocumentOut(id=source, status="skipped", reason=reason)
    for doc_id in on_disk - set(out):
        out[doc_id] = DocumentOut(id=doc_id, status="pending")
    return [out[key] for key in sorted(out)]
