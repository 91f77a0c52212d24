"""Domain errors raised by the core; the API and the CLI each map them in one place."""

from __future__ import annotations


class AssistantError(Exception):
    """Base for errors a user can act on; `code` is stable for clients."""

    code = "assistant_error"


class IndexNotBuilt(AssistantError):
    code = "index_not_built"

    def __init__(self, index_dir: object) -> None:
        super().__init__(f"No index in {index_dir}: run `assistant index` first.")


class IndexCorrupt(AssistantError):
    """The pointer or a manifest cannot be read; `assistant index` rebuilds from sources/."""

    code = "index_corrupt"


class SourceUnreadable(AssistantError):
    code = "source_unreadable"


class SourcesMissing(AssistantError):
    code = "sources_missing"


class RebuildInProgress(AssistantError):
    code = "rebuild_in_progress"


class DocumentNotFound(AssistantError):
    code = "document_not_found"


class InvalidQuestion(AssistantError):
    code = "invalid_question"


class StoreUnavailable(AssistantError):
    code = "store_unavailable"


class InsecureBinding(AssistantError):
    code = "insecure_binding"


class LLMUnavailable(AssistantError):
    """The LLM server refused, failed, or answered with something that is not an answer."""

    code = "llm_unavailable"


class LLMTimeout(AssistantError):
    code = "llm_timeout"


class Misconfigured(AssistantError):
    """Settings that cannot work together."""

    code = "misconfigured"


class CollectionNotFound(AssistantError):
    code = "collection_not_found"


class CollectionExists(AssistantError):
    code = "collection_exists"


class UploadRefused(AssistantError):
    """An uploaded file that is not taken: `status` is the HTTP status that says why."""

    code = "upload_refused"

    def __init__(self, message: str, status: int = 400, code: str = "upload_refused") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class JobNotFound(AssistantError):
    code = "job_not_found"


class JobFailed(AssistantError):
    """A job that failed with an unexpected error (its own message says so): 500."""

    code = "job_failed"

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.status = status


class TooManyWaiting(AssistantError):
    """More `?wait=true` requests than the server holds open at once: 429."""

    code = "too_many_waiting"
    status = 429


class JobCancelled(AssistantError):
    """Raised inside a running job that was cancelled: the job stops and its change is undone."""

    code = "job_cancelled"


class JobOver(AssistantError):
    """Cancelling a job that has already finished: 409."""

    code = "job_over"
    status = 409
