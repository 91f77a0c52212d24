"""Speed against the floor set by the raw libraries, measured in the same run.

    .venv/bin/python -m bench.speed                 # everything, every backend (about 25 minutes on 2 cores)
    .venv/bin/python -m bench.speed --only latency  # one section: index, latency, load, scale, cold
    .venv/bin/python -m bench.speed --backends onnx # one embedding backend (torch, onnx, onnx-int8)

Each section prints our figure, the raw-library figure, their ratio and the target. The raw
floor is always torch: SentenceTransformer.encode, and a Chroma query for /chat.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np

from assistant.analysis import sentences
from assistant.analysis.chunking import Chunk
from assistant.analysis.sentences import DocumentSentences
from assistant.analysis.text import content_terms
from assistant.index.catalog import Catalog, DocumentRecord, Manifest
from assistant.index.lexical import LexicalIndex
from assistant.index.store import ChunkStore
from assistant.retrieval.retriever import Turn
from assistant.service.assembly import build_assistant
from assistant.settings import Settings
from bench.scifact import DATA

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
QUESTIONS = [json.loads(line) for line in (REPO / "eval" / "questions.jsonl").read_text().splitlines()]
SINGLE_TURN = [q["question"] for q in QUESTIONS if "question" in q]
ROWS: list[tuple[str, str, str, str, str]] = []


def row(figure: str, ours: str, raw: str, ratio: str, target: str) -> None:
    ROWS.append((figure, ours, raw, ratio, target))
    print(f"{figure:44} ours={ours:>12} raw={raw:>12} ratio={ratio:>6} target {target}", flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def scifact_sources(target: Path, chunks_wanted: int = 2000) -> None:
    """The first SciFact abstracts, about `chunks_wanted` chunks' worth (3 chunks each on average)."""
    target.mkdir(parents=True)
    for line in (DATA / "corpus.jsonl").read_text().splitlines()[: chunks_wanted // 3]:
        record = json.loads(line)
        (target / f"{record['_id']}.txt").write_text(f"{record['title']}\n\n{record['text']}")


# Exported ONNX models, shared by every section and server of one run (exported before timing).
MODEL_CACHE: Path | None = None


def settings_for(backend: str, **paths) -> Settings:
    return Settings(embedding_backend=backend, model_cache_dir=MODEL_CACHE, **paths)


RAW_ENCODE: dict[int, float] = {}  # texts embedded -> seconds, for torch's encode (measured once)


def bench_index(work: Path, backend: str) -> None:
    scifact_sources(work / "sources" / "default")
    assistant = build_assistant(settings_for(backend, sources_dir=work / "sources", index_dir=work / "index"))
    started = time.perf_counter()
    report = assistant.indexer().rebuild()
    seconds = time.perf_counter() - started

    # The rebuild embeds every chunk (retrieval) and every sentence (answer selection): the raw
    # floor is the library encoding those same texts.
    index = assistant.handle.current()
    texts = [index.texts[c.source][c.start : c.end] for c in index.chunks.values()]
    texts += [index.sentences.text(source, i) for source in index.texts for i in range(index.sentences.count(source))]
    if len(texts) not in RAW_ENCODE:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(assistant.settings.embedding_model_path, device="cpu")
        started = time.perf_counter()
        model.encode(texts, batch_size=64, normalize_embeddings=True)
        RAW_ENCODE[len(texts)] = time.perf_counter() - started
    raw_seconds = RAW_ENCODE[len(texts)]
    row(
        f"[{backend}] index build, texts/s ({report.chunks} chunks + {report.sentences} sentences)",
        f"{len(texts) / seconds:.1f}",
        f"{len(texts) / raw_seconds:.1f}",
        f"{raw_seconds / seconds:.2f}",
        ">= 2 (onnx backends), >= 0.9 (torch)",
    )
    row(f"[{backend}] index build, chunks/s end to end", f"{report.chunks / seconds:.1f}", "-", "-", "-")

    started = time.perf_counter()
    again = assistant.indexer().rebuild()
    seconds = time.perf_counter() - started
    assert not again.changed
    row(f"[{backend}] no-change rebuild, s", f"{seconds:.3f}", "-", "-", "< 2 s")


def sample_index(work: Path, backend: str) -> Settings:
    settings = settings_for(backend, sources_dir=REPO / "sources", index_dir=work / "sample-index")
    build_assistant(settings).indexer().rebuild()
    return settings


def serve(settings: Settings, port: int, workers_env: dict | None = None) -> subprocess.Popen:
    env = {
        **os.environ,
        "ASSISTANT_SOURCES_DIR": str(settings.sources_dir),
        "ASSISTANT_INDEX_DIR": str(settings.index_dir),
        "ASSISTANT_COLLECTION_PREFIX": settings.collection_prefix,
        "ASSISTANT_EMBEDDING_BACKEND": settings.embedding_backend,
        "ASSISTANT_MODEL_CACHE_DIR": str(settings.model_cache),
        "ASSISTANT_RATE_LIMIT_PER_MINUTE": "10000000",
        **(workers_env or {}),
    }
    command = [str(BIN / "assistant"), "serve", "--port", str(port)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_answer(url: str, process: subprocess.Popen, timeout: float = 120) -> float:
    started = time.perf_counter()
    body = {"messages": [{"role": "user", "content": SINGLE_TURN[0]}]}
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError("server exited")
        try:
            if httpx.post(f"{url}/chat", json=body, timeout=5).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            time.sleep(0.05)
    raise TimeoutError(url)


@contextmanager
def served(settings: Settings, port: int):
    """`assistant serve` in its own process, answering; yields its URL."""
    process = serve(settings, port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_answer(url, process)
        yield url
    finally:
        process.terminate()
        process.wait()


def chat_latencies(url: str, questions: list[str], rounds: int = 1) -> list[float]:
    """Milliseconds per /chat over HTTP, questions in order, `rounds` times over."""
    times = []
    with httpx.Client(base_url=url, timeout=30) as http:
        for _ in range(rounds):
            for question in questions:
                started = time.perf_counter()
                response = http.post("/chat", json={"messages": [{"role": "user", "content": question}]})
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text
    return times


def raw_floor(settings: Settings, questions: list[str], rounds: int = 1) -> list[float]:
    """Milliseconds per question for the raw libraries: SentenceTransformer.encode + a Chroma query."""
    import chromadb
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(settings.embedding_model_path, device="cpu")
    catalog = Catalog(settings.index_dir, None, settings.collection_prefix)
    location = catalog.location(catalog.require_current())
    client = chromadb.PersistentClient(path=str(location.generation_dir / "chroma"))
    collection = client.get_collection(location.collection)
    times = []
    for _ in range(rounds):
        for question in questions:
            started = time.perf_counter()
            vector = model.encode(question, normalize_embeddings=True)
            collection.query(query_embeddings=[vector.tolist()], n_results=5)
            times.append((time.perf_counter() - started) * 1000)
    return times


def query_embed_floor(settings: Settings, questions: list[str], rounds: int) -> tuple[list[float], list[float]]:
    """Milliseconds per question embedding: ours (the backend) and raw SentenceTransformer.encode."""
    from sentence_transformers import SentenceTransformer

    from assistant.index.embeddings import load_embeddings

    ours = load_embeddings(settings.embedding_model_path, backend=settings.embedding_backend, cache_dir=MODEL_CACHE)
    model = SentenceTransformer(settings.embedding_model_path, device="cpu")
    ours.embed_query(questions[0]), model.encode(questions[0])
    ours_times, raw_times = [], []
    for _ in range(rounds):
        for question in questions:
            started = time.perf_counter()
            ours.embed_query(question)
            ours_times.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            model.encode(question, normalize_embeddings=True)
            raw_times.append((time.perf_counter() - started) * 1000)
    return ours_times, raw_times


def bench_latency(work: Path, backend: str, rounds: int = 5) -> None:
    settings = sample_index(work, backend)
    with served(settings, 8791) as url:
        chat_latencies(url, SINGLE_TURN)  # warm-up: the server's first requests
        ours = chat_latencies(url, SINGLE_TURN, rounds)
    raw = raw_floor(settings, SINGLE_TURN, rounds)
    p50, raw50 = statistics.median(ours), statistics.median(raw)
    row(f"[{backend}] /chat p50 ms (HTTP, extractive)", f"{p50:.1f}", f"{raw50:.1f}", f"{p50 / raw50:.2f}", "<= 1.5")
    row(f"[{backend}] /chat p95 ms", f"{percentile(ours, 0.95):.1f}", f"{percentile(raw, 0.95):.1f}", "-", "-")
    embed, raw_embed = query_embed_floor(settings, SINGLE_TURN, rounds)
    embed50, raw_embed50 = statistics.median(embed), statistics.median(raw_embed)
    row(f"[{backend}] query embed p50 ms", f"{embed50:.2f}", f"{raw_embed50:.2f}", f"{embed50 / raw_embed50:.2f}", "-")


def bench_load(work: Path, backend: str, seconds: int, concurrency: int) -> None:
    settings = sample_index(work, backend)
    with served(settings, 8792) as url:
        command = [
            sys.executable,
            "-m",
            "bench.load",
            url,
            "--seconds",
            str(seconds),
            "--concurrency",
            str(concurrency),
        ]
        result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO).stdout)
    row(
        f"[{backend}] load {seconds}s x{concurrency} clients, req/s",
        f"{result['requests_per_second']}",
        "-",
        "-",
        f">= 120, 0 errors (errors: {result['errors']}, p50 {result['latency_ms_p50']} ms)",
    )


def synthetic_generation(settings: Settings, chunks: int, dimensions: int = 384) -> None:
    """An index of `chunks` synthetic chunks (random unit vectors, random words): no encoding needed."""
    rng = random.Random(7)
    vocabulary = [f"w{i}" for i in range(20000)]
    catalog = Catalog(settings.index_dir, None, settings.collection_prefix)
    generation = catalog.next_generation()
    per_document = 10
    documents, all_chunks = {}, []
    for d in range(chunks // per_document):
        doc_id = f"doc{d:06d}.txt"
        written = [" ".join(rng.choices(vocabulary, k=30)) + "." for _ in range(per_document)]
        text, spans = "", []
        for sentence in written:
            spans.append((len(text), len(text) + len(sentence), None))
            text += sentence + " "
        name = catalog.write_text(generation, doc_id, text)
        documents[doc_id] = DocumentRecord(doc_id, f"h{d}", "txt", doc_id, name, tuple(spans))
        all_chunks += [Chunk(f"{doc_id}#{i}", doc_id, i, s, e, text[s:e]) for i, (s, e, _) in enumerate(spans)]
    vectors = np.random.default_rng(7).normal(size=(len(all_chunks), dimensions)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    # Each chunk is one sentence here: the answer model reads the same vectors per sentence.
    for d, record in enumerate(documents.values()):
        text = catalog.read_text(generation, record)
        spans = np.asarray([(s, e) for s, e, _ in record.chunks], dtype=np.int32)
        counts = Counter(t for s, e in spans for t in set(content_terms(text[s:e])))
        own = vectors[d * per_document : (d + 1) * per_document].astype(np.float16)
        sentences.save(catalog.sentences_dir(generation), record.stem, DocumentSentences(spans, own, dict(counts)))
    store = ChunkStore(catalog.location(generation), build_assistant(settings).embeddings, create=True)
    store.add_with_vectors(all_chunks, vectors.tolist())
    LexicalIndex.build([c.id for c in all_chunks], [c.text for c in all_chunks]).save(catalog.lexical_dir(generation))
    catalog.write_manifest(Manifest(generation, "synthetic", {}, documents))
    catalog.switch_to(generation)


def timed_ask(assistant, question: str) -> float:
    started = time.perf_counter()
    assistant.ask([Turn("user", question)])
    return (time.perf_counter() - started) * 1000


def bench_scale(work: Path, backend: str, sizes: tuple[int, ...]) -> None:
    results = {}
    for size in sizes:
        settings = settings_for(backend, sources_dir=work, index_dir=work / f"scale-{size}")
        started = time.perf_counter()
        synthetic_generation(settings, size)
        built = time.perf_counter() - started
        assistant = build_assistant(settings)
        assistant.ask([Turn("user", "w1 w2 w3")])  # load the generation
        questions = [f"What about w{i * 13} and w{i * 7 + 1}?" for i in range(60)]
        first = [timed_ask(assistant, question) for question in questions]
        again = [timed_ask(assistant, question) for question in questions]
        results[size] = statistics.median(again)
        row(
            f"[{backend}] ask p50 ms, {size} chunks (built in {built:.0f}s)",
            f"{results[size]:.1f}",
            "-",
            "-",
            f"first asked p50 {statistics.median(first):.1f} ms",
        )
    first, last = results[sizes[0]], results[sizes[-1]]
    row(f"p50 growth {sizes[0]} -> {sizes[-1]} chunks", f"{last / first:.2f}x", "-", "-", "< 2x")


def bench_cold(work: Path, backend: str) -> None:
    settings = sample_index(work, backend)
    started = time.perf_counter()
    with served(settings, 8793):
        row(
            f"[{backend}] cold start: serve -> first answer, s",
            f"{time.perf_counter() - started:.2f}",
            "-",
            "-",
            "model already exported",
        )


def export_models(backends: list[str]) -> None:
    """Export once before anything is timed; the first export's cost is a row of its own."""
    from assistant.index.embeddings import load_embeddings
    from assistant.settings import packaged_model_path

    for backend in backends:
        if backend == "torch":
            continue
        started = time.perf_counter()
        load_embeddings(packaged_model_path(), backend=backend, cache_dir=MODEL_CACHE)
        seconds = time.perf_counter() - started
        row(f"[{backend}] first use: export from the packaged weights, s", f"{seconds:.1f}", "-", "-", "once")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["index", "latency", "load", "scale", "cold"])
    parser.add_argument("--seconds", type=int, default=30, help="load duration")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sizes", default="1000,10000,100000", help="scale: chunk counts")
    parser.add_argument("--backends", default="torch,onnx,onnx-int8", help="embedding backends, comma-separated")
    args = parser.parse_args()
    backends = args.backends.split(",")
    work = Path(tempfile.mkdtemp(prefix="assistant-bench-"))
    global MODEL_CACHE
    MODEL_CACHE = work / "models"
    default_backend = Settings().embedding_backend
    sections = {
        "index": lambda b: bench_index(work / f"index-bench-{b}", b),
        "latency": lambda b: bench_latency(work / f"latency-{b}", b),
        "load": lambda b: bench_load(work / f"load-{b}", b, args.seconds, args.concurrency),
        # Synthetic vectors: the backend only embeds the question, so the default alone.
        "scale": lambda b: (
            b == default_backend and bench_scale(work / "scale", b, tuple(int(s) for s in args.sizes.split(",")))
        ),
        "cold": lambda b: bench_cold(work / f"cold-{b}", b),
    }
    try:
        export_models(backends)
        for name, section in sections.items():
            if args.only in (None, name):
                for backend in backends:
                    section(backend)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n| figure | ours | raw | ratio | target |\n|---|---|---|---|---|")
    for figure, ours, raw, ratio, target in ROWS:
        print(f"| {figure} | {ours} | {raw} | {ratio} | {target} |")


if __name__ == "__main__":
    main()
