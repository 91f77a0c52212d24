"""Index: chunks -> a generation on disk and in Chroma, and the handle that serves it.

Enters: documents and their chunks. Leaves: a generation (catalog, store, lexical BM25,
sentences) built by `build.Indexer`, and `serving.IndexHandle`, which requests read from. The
embedding back-ends (embeddings, onnx_embeddings, onnx_export) live here because the vectors are
the index's; filters too, because a filter resolves to the index's documents, which both Chroma
and BM25 are masked with.
Imports: ingest, analysis, and the shared modules.
"""
