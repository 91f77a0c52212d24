"""The embedding backends: ONNX gives torch's vectors, int8 close ones, and int8 is a model change."""

import numpy as np
import pytest

from assistant.index.embeddings import load_embeddings
from assistant.service.assembly import build_assistant
from assistant.settings import Settings, packaged_model_path

TEXTS = [
    "The orchard in the valley grows seventeen kinds of apples.",
    "Harvest starts in September, when the nights turn cold and the first frost is near. " * 6,
    "Heydər Əliyev Fondunun prezidenti",
    "?",
]


@pytest.fixture(scope="module")
def torch_embeddings():
    return load_embeddings(packaged_model_path(), backend="torch")


@pytest.fixture(scope="module")
def int8_embeddings():
    settings = Settings()
    return load_embeddings(packaged_model_path(), backend="onnx-int8", cache_dir=settings.model_cache)


def _onnx():
    settings = Settings()
    return load_embeddings(packaged_model_path(), backend="onnx", cache_dir=settings.model_cache)


def test_onnx_gives_the_torch_vectors_for_documents_and_queries(torch_embeddings):
    onnx = _onnx()
    ours, theirs = np.array(onnx.embed_documents(TEXTS)), np.array(torch_embeddings.embed_documents(TEXTS))
    assert ours.shape == theirs.shape == (len(TEXTS), 384)
    assert (ours * theirs).sum(axis=1).min() > 0.9999
    query = "How many kinds of apples grow in the orchard?"
    assert np.dot(onnx.embed_query(query), torch_embeddings.embed_query(query)) > 0.9999
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)


def test_int8_vectors_stay_close_and_rank_like_torch(torch_embeddings, int8_embeddings):
    ours, theirs = np.array(int8_embeddings.embed_documents(TEXTS)), np.array(torch_embeddings.embed_documents(TEXTS))
    assert (ours * theirs).sum(axis=1).min() > 0.95
    query = "How many kinds of apples grow in the orchard?"
    assert int(np.argmax(ours @ np.array(int8_embeddings.embed_query(query)))) == 0


def test_the_export_is_made_once_and_reused(tmp_path):
    cache = tmp_path / "models"
    load_embeddings(packaged_model_path(), backend="onnx", cache_dir=cache)
    (exported,) = list(cache.glob("*/model.onnx"))
    written = exported.stat().st_mtime_ns
    load_embeddings(packaged_model_path(), backend="onnx", cache_dir=cache)
    assert [p.name for p in cache.iterdir()] == [exported.parent.name]  # no leftover work folder
    assert exported.stat().st_mtime_ns == written


def test_int8_forces_a_full_rebuild_and_float_onnx_does_not(corpus, tmp_path, torch_embeddings, int8_embeddings):
    index = tmp_path / "index"

    def rebuild(backend, embeddings):
        settings = Settings(sources_dir=corpus.parent, index_dir=index, embedding_backend=backend)
        return build_assistant(settings, embeddings=embeddings).indexer().rebuild()

    first = rebuild("torch", torch_embeddings)
    assert first.full
    same_vectors = rebuild("onnx", _onnx())
    assert (same_vectors.full, same_vectors.embedded, same_vectors.changed) == (False, 0, False)
    quantized = rebuild("onnx-int8", int8_embeddings)
    assert quantized.full and quantized.embedded == first.embedded
