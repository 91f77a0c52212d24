"""Answering: passages -> an answer with citations (and the exact short answer).

Enters: `Retrieval` (the question and its ranked passages). Leaves: `Answer` (types): text with
`[n]` markers, citations to exact spans, the short answer, or an abstention with its reason.
Extractive (candidates and features, the reader model and its windows, the answer model in
selector) or generative (the LLM client llm, prompts, marker verification).
Imports: ingest, analysis, index, retrieval, and the shared modules.
"""
