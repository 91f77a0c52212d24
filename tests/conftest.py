"""Shared fixtures: the real embedding model (loaded once) and real Chroma in temp dirs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# One ONNX export for the whole run, shared with the servers and CLIs the tests start (each
# test's index_dir is new, and the default cache lives inside it).
REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("ASSISTANT_MODEL_CACHE_DIR", str(REPO / ".pytest_cache" / "models"))

from assistant.index.embeddings import load_embeddings  # noqa: E402
from assistant.service.assembly import Assistant, build_assistant  # noqa: E402
from assistant.settings import Settings, packaged_model_path  # noqa: E402

SAMPLE_SOURCES = REPO / "sources"
SAMPLE_DOC = "news-az-diaspora-unity.txt"


def stream_events(raw: str) -> list[tuple[str, dict]]:
    """A `text/event-stream` body from /chat as (event name, data) pairs, in order."""
    return [
        (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("data: ", 1)[1]))
        for block in raw.strip().split("\n\n")
    ]


@pytest.fixture(scope="session")
def embeddings():
    """The default backend, as users get it."""
    settings = Settings()
    return load_embeddings(packaged_model_path(), backend=settings.embedding_backend, cache_dir=settings.model_cache)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A writable copy of the sample corpus: the default collection's folder, inside its sources root."""
    shutil.copytree(SAMPLE_SOURCES, tmp_path / "sources")
    return tmp_path / "sources" / "default"


@pytest.fixture
def make_assistant(embeddings, tmp_path: Path):
    """Build an Assistant over any sources dir, sharing the session's model."""

    def make(collection_dir: Path, index_dir: Path | None = None, **overrides) -> Assistant:
        """`collection_dir` is one collection's folder: its parent is the sources root, its name the collection."""
        collection_dir.mkdir(parents=True, exist_ok=True)
        settings = Settings(sources_dir=collection_dir.parent, index_dir=index_dir or tmp_path / "index", **overrides)
        return build_assistant(settings, embeddings=embeddings, collection=collection_dir.name)

    return make


@pytest.fixture(scope="session")
def sample_assistant(embeddings, tmp_path_factory) -> Assistant:
    """The sample corpus, indexed once for read-only tests."""
    index_dir = tmp_path_factory.mktemp("sample-index")
    assistant = build_assistant(Settings(sources_dir=SAMPLE_SOURCES, index_dir=index_dir), embeddings=embeddings)
    assistant.indexer().rebuild()
    return assistant
