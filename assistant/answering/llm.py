"""The only module that talks to an LLM: an OpenAI-compatible server through langchain-openai."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import openai
from langchain_core.messages import BaseMessage
from langchain_openai import ChatOpenAI

from assistant.errors import LLMTimeout, LLMUnavailable
from assistant.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class LLMUsage:
    """What one question cost at the LLM: calls, seconds and the server's token counts.

    Passed down explicitly, not held in a context variable: a streamed answer is carried on by
    whichever worker thread serves its next piece."""

    calls: int = 0
    seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def record(self, calls: int = 0, seconds: float = 0.0, tokens: dict | None = None) -> None:
        self.calls += calls
        self.seconds += seconds
        if tokens:  # servers that send no `usage` leave the counts at 0
            self.prompt_tokens += int(tokens.get("input_tokens") or 0)
            self.completion_tokens += int(tokens.get("output_tokens") or 0)


class LLMClient:
    """Chat completions with a bounded timeout; failures become LLMUnavailable or LLMTimeout."""

    def __init__(self, settings: Settings) -> None:
        if not settings.llm_base_url:
            raise ValueError("LLMClient needs ASSISTANT_LLM_BASE_URL")
        self.base_url = settings.llm_base_url.rstrip("/")
        self.model = settings.llm_model
        self._timeout = settings.llm_timeout_seconds
        self._chat = ChatOpenAI(
            base_url=self.base_url,
            model=settings.llm_model,
            api_key=settings.llm_api_key,
            timeout=settings.llm_timeout_seconds,
            max_retries=0,  # a retry doubles a user's wait; the caller decides about fallbacks
            temperature=0,
            max_tokens=settings.llm_max_tokens,
            stream_usage=True,  # OpenAI's stream_options.include_usage: token counts on the last chunk
        )

    def complete(self, messages: list[BaseMessage], usage: LLMUsage | None = None) -> str:
        usage = usage or LLMUsage()
        started = time.perf_counter()
        with self._errors():
            try:
                reply = self._chat.invoke(messages)
            finally:
                usage.record(calls=1, seconds=time.perf_counter() - started)
        usage.record(tokens=reply.usage_metadata)
        content = reply.content
        if not isinstance(content, str) or not content.strip():
            raise LLMUnavailable(f"The LLM at {self.base_url} sent an empty or non-text answer.")
        return content.strip()

    def stream(self, messages: list[BaseMessage], usage: LLMUsage | None = None) -> Iterator[str]:
        """The answer's text as the server sends it; the same errors as `complete`."""
        usage = usage or LLMUsage()
        started = time.perf_counter()
        written = False
        try:
            with self._errors():
                for chunk in self._chat.stream(messages):
                    usage.record(tokens=chunk.usage_metadata)
                    if isinstance(chunk.content, str) and chunk.content:
                        written = written or bool(chunk.content.strip())
                        yield chunk.content
        finally:
            usage.record(calls=1, seconds=time.perf_counter() - started)
        if not written:
            raise LLMUnavailable(f"The LLM at {self.base_url} sent an empty or non-text answer.")

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except openai.APITimeoutError as error:
            raise LLMTimeout(f"The LLM at {self.base_url} did not answer within {self._timeout:g}s.") from error
        except openai.APIConnectionError as error:
            raise LLMUnavailable(f"The LLM at {self.base_url} is unreachable: {error}") from error
        except openai.APIStatusError as error:
            raise LLMUnavailable(f"The LLM at {self.base_url} answered HTTP {error.status_code}.") from error
        except (openai.OpenAIError, ValueError, TypeError, KeyError) as error:
            raise LLMUnavailable(f"The LLM at {self.base_url} sent a reply that is not a chat completion.") from error

    def reachable(self) -> str | None:
        """None when the server answers GET /models, else why not."""
        try:
            response = httpx.get(f"{self.base_url}/models", timeout=min(self._timeout, 3.0))
            response.raise_for_status()
            return None
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}"
