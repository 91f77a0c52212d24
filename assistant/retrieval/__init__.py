"""Retrieval: a question -> ranked passages.

Enters: the question (and the conversation) with an optional filter. Leaves: `Retrieval`,
the fused dense and BM25 ranking of passages from the serving generation (retriever).
Imports: ingest, analysis, index, and the shared modules.
"""
