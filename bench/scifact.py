"""Retrieval quality on BEIR SciFact through the project's own pipeline, beside published numbers.

    .venv/bin/python -m bench.scifact     # the first run embeds chunks and sentences (~20 min), later runs reuse them
    .venv/bin/python -m bench.scifact --backend onnx-int8   # another embedding backend (torch, onnx, onnx-int8)

torch and onnx give the same vectors, so they share one index (as `assistant index` does when the
backend changes between them) and differ in the questions' vectors only; onnx-int8 has its own.

SciFact (5,183 abstracts, 300 test claims) is indexed by the same loader, chunker, Chroma store
and BM25 as `assistant index`, into its own index under bench/.cache/. Chunks are mapped back to
documents by each document's best chunk. Tuning uses the even-numbered queries (sorted by id);
figures are reported on the odd half (held out) and on all 300.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from assistant.index.lexical import LexicalIndex
from assistant.index.serving import LoadedIndex
from assistant.retrieval.retriever import Fusion, Query, Retriever
from assistant.service.assembly import build_assistant
from assistant.settings import Settings

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "scifact"
CACHE = Path(__file__).resolve().parent / ".cache" / "scifact"
PUBLISHED = {"all-MiniLM-L6-v2 (MTEB)": 0.64508, "BM25 (bm25s, MTEB)": 0.68736}
CHUNK_POOL = 400  # chunks fetched per query, enough to rank 100 distinct documents


@dataclass(frozen=True)
class Scores:
    ndcg10: float
    recall10: float
    recall100: float
    mrr10: float


def prepare_sources(target: Path) -> None:
    """One .txt per abstract (title, blank line, text): the loader's own document model."""
    marker = target / ".complete"
    if marker.exists():
        return
    target.mkdir(parents=True, exist_ok=True)
    for line in (DATA / "corpus.jsonl").read_text().splitlines():
        record = json.loads(line)
        (target / f"{record['_id']}.txt").write_text(f"{record['title']}\n\n{record['text']}")
    marker.write_text("ok")


def load_queries() -> tuple[dict[str, str], dict[str, set[str]]]:
    queries = {}
    for line in (DATA / "queries.jsonl").read_text().splitlines():
        record = json.loads(line)
        queries[record["_id"]] = record["text"]
    relevant: dict[str, set[str]] = {}
    for line in (DATA / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        query_id, doc_id, score = line.split("\t")
        if int(score) > 0:
            relevant.setdefault(query_id, set()).add(doc_id)
    return {q: queries[q] for q in relevant}, relevant


def documents_ranked(retriever: Retriever, text: str) -> list[str]:
    """Documents by their best chunk (first occurrence in the chunk ranking)."""
    ranked = []
    for passage in retriever.retrieve(Query(text), CHUNK_POOL).passages:
        doc_id = passage.source.removesuffix(".txt")
        if doc_id not in ranked:
            ranked.append(doc_id)
    return ranked


def score(rankings: dict[str, list[str]], relevant: dict[str, set[str]], ids: list[str]) -> Scores:
    ndcg, r10, r100, mrr = [], [], [], []
    for query_id in ids:
        ranked, gold = rankings[query_id], relevant[query_id]
        dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:10]) if d in gold)
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(gold), 10)))
        ndcg.append(dcg / ideal)
        r10.append(len(gold & set(ranked[:10])) / len(gold))
        r100.append(len(gold & set(ranked[:100])) / len(gold))
        first = next((i for i, d in enumerate(ranked[:10]) if d in gold), None)
        mrr.append(0.0 if first is None else 1 / (first + 1))
    n = len(ids)
    return Scores(sum(ndcg) / n, sum(r10) / n, sum(r100) / n, sum(mrr) / n)


def variants(only: str | None) -> dict[str, tuple[str, Fusion, float | None]]:
    """Rows: retrieval mode, fusion, and a document-BM25 k1 to rebuild with (None: the index's own)."""
    pool = {"candidates": CHUNK_POOL}
    one_stage = {**pool, "rerank_depth": 0}
    rows = {
        "dense only": ("dense", Fusion(**pool), None),
        "BM25 only (chunks)": ("lexical", Fusion(**pool), None),
        "hybrid RRF k=60": ("hybrid", Fusion("rrf", 60, **pool), None),
        "weighted dense .5 + chunk BM25 .5": ("hybrid", Fusion("weighted", 60, 0.5, 0.5, 0.0, **one_stage), None),
        "weighted .5 / .25 / doc BM25 .25": ("hybrid", Fusion("weighted", 60, 0.5, 0.25, 0.25, **one_stage), None),
        "weighted .45 / .2 / .35, doc k1 1.5": ("hybrid", Fusion("weighted", 60, 0.45, 0.2, 0.35, **one_stage), 1.5),
        "weighted .45 / .2 / .35": ("hybrid", Fusion("weighted", 60, 0.45, 0.2, 0.35, **one_stage), None),
        "weighted .65 / .15 / .2": ("hybrid", Fusion("weighted", 60, 0.65, 0.15, 0.2, **one_stage), None),
        "two-stage .65/.15/.2 -> top 50 .45/.2/.35 (default)": ("hybrid", Fusion(**pool), None),
    }
    return {k: v for k, v in rows.items() if only is None or k == only}


@contextmanager
def document_bm25(index: LoadedIndex, k1: float | None) -> Iterator[None]:
    """Swap in a document BM25 built with another k1, to compare against the index's own."""
    if k1 is None:
        yield
        return
    kept = index.document_lexical
    ids = list(index.manifest.documents)
    index.document_lexical = LexicalIndex.build(ids, [index.texts[i] for i in ids], k1=k1)
    try:
        yield
    finally:
        index.document_lexical = kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run one variant by its row name")
    parser.add_argument("--backend", choices=["torch", "onnx", "onnx-int8"], default=Settings().embedding_backend)
    args = parser.parse_args()

    sources = CACHE / "sources" / "default"
    prepare_sources(sources)
    index_dir = CACHE / ("index-int8" if args.backend == "onnx-int8" else "index")
    settings = Settings(
        sources_dir=sources.parent,
        index_dir=index_dir,
        collection_prefix="scifact",
        embedding_backend=args.backend,
        model_cache_dir=CACHE / "models",
    )
    assistant = build_assistant(settings)
    started = time.perf_counter()
    report = assistant.indexer().rebuild(
        progress=lambda done, total: print(f"\rembedding {done}/{total} chunks", end="", flush=True)
    )
    print(f"\nindex: {report.chunks} chunks, {report.embedded} embedded this run, {time.perf_counter() - started:.1f}s")

    queries, relevant = load_queries()
    ids = sorted(queries, key=int)
    tune, held_out = ids[0::2], ids[1::2]
    print(f"queries: {len(ids)} (tune {len(tune)}, held out {len(held_out)}); embedding backend {args.backend}\n")
    print(f"{'variant':52} {'nDCG@10 all':>11} {'held-out':>9} {'tune':>7} {'R@10':>6} {'R@100':>6} {'MRR@10':>7}")
    for name, published in PUBLISHED.items():
        print(f"{name + ' (published)':52} {published:>11.4f}")
    for name, (mode, fusion, document_k1) in variants(args.only).items():
        retriever = Retriever(assistant.handle, assistant.embeddings, 10, mode=mode, fusion=fusion)
        with document_bm25(assistant.handle.current(), document_k1):
            rankings = {q: documents_ranked(retriever, queries[q]) for q in ids}
        everything, held, tuned = (score(rankings, relevant, part) for part in (ids, held_out, tune))
        print(
            f"{name:52} {everything.ndcg10:>11.4f} {held.ndcg10:>9.4f} {tuned.ndcg10:>7.4f} "
            f"{everything.recall10:>6.3f} {everything.recall100:>6.3f} {everything.mrr10:>7.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
