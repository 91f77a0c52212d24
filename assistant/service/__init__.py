"""Service: collections, jobs, and the whole assembled from Settings.

Enters: Settings. Leaves: `Assistant` per collection (assembly), the `Library` of collections
(collections) and the ingestion `Jobs` queue (jobs), which the API and the CLI serve.
Imports: every stage before it (ingest, analysis, index, retrieval, answering) and the shared modules.
"""
