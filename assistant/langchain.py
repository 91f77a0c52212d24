"""Our hybrid retrieval as a LangChain retriever, for people who build their own chains on it."""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from assistant.service.assembly import Assistant, build_assistant
from assistant.settings import Settings


class AssistantRetriever(BaseRetriever):
    """Passages as `Document`s: the passage text, and where it is (source, start, end, page)
    and how it ranked (score) in the metadata, so a chain can cite exactly as we do.

        retriever = AssistantRetriever.from_settings(Settings(), top_k=4)
        chain = retriever | format_passages | prompt | llm
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    assistant: Assistant
    top_k: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None, top_k: int | None = None) -> AssistantRetriever:
        return cls(assistant=build_assistant(settings or Settings()), top_k=top_k)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        retrieval = self.assistant.search(query, self.top_k)
        return [
            Document(
                page_content=passage.text,
                id=passage.chunk_id,
                metadata={
                    "source": passage.source,
                    "title": passage.title,
                    "start": passage.start,
                    "end": passage.end,
                    "page": passage.page,
                    "score": passage.score,
                    "chunk_id": passage.chunk_id,
                },
            )
            for passage in retrieval.passages
        ]
