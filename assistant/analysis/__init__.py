"""Analysis: text -> chunks, sentences, words and terms.

Enters: a document's text. Leaves: chunks with offsets (chunking), sentence spans and their
terms (sentences), words and terms (text) for the index, retrieval and answering.
Imports: ingest, and the shared modules.
"""
