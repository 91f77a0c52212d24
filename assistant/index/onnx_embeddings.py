"""The embedding model on ONNX Runtime, as a LangChain Embeddings: same tokenizer, same pooling."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.errors import Misconfigured

# Sub-batches of similar length pad little; small ones keep each run in cache on a laptop CPU
# (16 texts embedded 1.1-1.2x faster than 64 on SQuAD paragraphs and sentences here).
SUB_BATCH = 16


class OnnxEmbeddings(Embeddings):
    """Normalized mean-pooled vectors from an exported sentence-transformers model.

    Queries run on one session that uses every core (latency); documents run on one
    single-threaded session per core side by side (throughput: less synchronisation per op).
    """

    def __init__(self, model_file: Path, model_path: str, max_tokens: int, threads: int | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        _require_mean_pooling(Path(model_path))
        self._tokenizer = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_tokens)
        self._tokenizer.enable_padding()
        self._workers = threads or os.cpu_count() or 1

        def session(threads: int):
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            # Idle worker threads sleep instead of spinning: the cores are shared with Python,
            # Chroma and often an LLM server on the same machine.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])

        self._query_session = session(self._workers)
        self._document_session = session(1)
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="onnx-embed")

    def embed_query(self, text: str) -> list[float]:
        return self._run(self._query_session, [text])[0].tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches = [order[begin : begin + SUB_BATCH] for begin in range(0, len(order), SUB_BATCH)]
        run = lambda batch: self._run(self._document_session, [texts[i] for i in batch])  # noqa: E731
        computed = list(self._pool.map(run, batches))
        vectors = np.empty((len(texts), computed[0].shape[1]), dtype=np.float32)
        for batch, batch_vectors in zip(batches, computed, strict=True):
            vectors[batch] = batch_vectors
        return vectors.tolist()

    def _run(self, session, texts: list[str]) -> np.ndarray:
        encoded = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        types = np.array([e.type_ids for e in encoded], dtype=np.int64)
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
        summed = (hidden * mask[..., None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


def _require_mean_pooling(model_path: Path) -> None:
    """Only mean pooling is reproduced here; another model must use the torch backend."""
    config = model_path / "1_Pooling" / "config.json"
    if config.is_file() and not json.loads(config.read_text()).get("pooling_mode_mean_tokens", False):
        raise Misconfigured(f"{model_path.name} does not use mean pooling; use ASSISTANT_EMBEDDING_BACKEND=torch.")
