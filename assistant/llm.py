"""The only module that talks to an LLM: an OpenAI-compatible server through langchain-openai."""

from __future__ import annotations

import logging

import httpx
import openai
from langchain_core.messages import BaseMessage
from langchain_openai import ChatOpenAI

from assistant.errors import LLMTimeout, LLMUnavailable
from assistant.settings import Settings

logger = logging.getLogger(__name__)


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
        )

    def complete(self, messages: list[BaseMessage]) -> str:
        try:
            reply = self._chat.invoke(messages)
        except openai.APITimeoutError as error:
            raise LLMTimeout(f"The LLM at {self.base_url} did not answer within {self._timeout:g}s.") from error
        except openai.APIConnectionError as error:
            raise LLMUnavailable(f"The LLM at {self.base_url} is unreachable: {error}") from error
        except openai.APIStatusError as error:
            raise LLMUnavailable(f"The LLM at {self.base_url} answered HTTP {error.status_code}.") from error
        except (openai.OpenAIError, ValueError, TypeError, KeyError) as error:
            raise LLMUnavailable(f"The LLM at {self.base_url} sent a reply that is not a chat completion.") from error
        content = reply.content
        if not isinstance(content, str) or not content.strip():
            raise LLMUnavailable(f"The LLM at {self.base_url} sent an empty or non-text answer.")
        return content.strip()

    def reachable(self) -> str | None:
        """None when the server answers GET /models, else why not."""
        try:
            response = httpx.get(f"{self.base_url}/models", timeout=min(self._timeout, 3.0))
            response.raise_for_status()
            return None
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}"
